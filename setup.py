# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""Packaging entry point; the metadata lives in setup.cfg.

nova 34 imports ``nova.virt.<compute_driver>``.  This distribution ships no
file under ``nova/`` (a ``nova/virt/powervm`` directory hides an editable
nova); it ships ``nova_powervm_alias.pth`` at the top of site-packages,
which installs an import finder for ``nova.virt.powervm`` at start-up (see
nova_powervm_alias.py, a top-level module).  The .pth is added to regular
wheels by build_py and to editable wheels by editable_wheel
(doc/source/install.rst).
"""
import os

import setuptools
from setuptools.command import build_py
from setuptools.command import editable_wheel   # setuptools>=64 (pyproject)

PTH_NAME = 'nova_powervm_alias.pth'
PTH_LINE = 'import nova_powervm_alias\n'


def _write_pth(directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, PTH_NAME)
    with open(path, 'w') as f:
        f.write(PTH_LINE)


class BuildPy(build_py.build_py):
    """build_py that also puts the .pth at the top of the wheel."""

    def run(self):
        super().run()
        if not getattr(self, 'editable_mode', False):
            _write_pth(self.build_lib)

    def get_outputs(self, *args, **kwargs):
        outs = list(super().get_outputs(*args, **kwargs))
        if not getattr(self, 'editable_mode', False):
            outs.append(os.path.join(self.build_lib, PTH_NAME))
        return outs


class EditableWheel(editable_wheel.editable_wheel):
    """Editable wheel that also carries the .pth."""

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        _write_pth(installation_dir)


setuptools.setup(cmdclass={'build_py': BuildPy,
                           'editable_wheel': EditableWheel})
