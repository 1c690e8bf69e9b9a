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

pbr is deliberately not used: nova 34 imports ``nova.virt.<compute_driver>``
so this distribution must ship the ``nova.virt.powervm`` leaf package without
owning ``nova/__init__.py``.  pbr drops dotted package names and its
slash form breaks editable installs (see doc/source/install.rst).
"""
import setuptools

setuptools.setup()
