"""Make ``nova.virt.powervm`` importable without a file inside nova.

nova 34 loads ``compute_driver = powervm.PowerVMDriver`` by importing
``nova.virt.powervm``.  Shipping a ``nova/virt/powervm`` directory works
only while nova is a regular install: beside an editable nova (devstack)
that directory makes ``nova`` a namespace package that hides nova itself.
Instead, the ``nova_powervm_alias.pth`` file this distribution installs
(regular and editable installs, see setup.py) imports this module at
interpreter start-up, which puts a finder for exactly that one name first
on ``sys.meta_path``.  Nothing of nova is imported until nova asks for the
driver, and nova's own files are never touched.

This is a top-level module, not part of the ``nova_powervm`` package, so
that interpreter start-up does not import ``nova_powervm`` (a source
checkout's tests would otherwise find the installed copy already loaded).
"""
import importlib.abc
import importlib.machinery
import sys

NAME = 'nova.virt.powervm'


class _Loader(importlib.abc.Loader):

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from nova_powervm.virt.powervm import driver
        module.PowerVMDriver = driver.PowerVMDriver
        module.__all__ = ['PowerVMDriver']


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``nova.virt.powervm`` (and nothing else)."""

    marker = 'nova_powervm_alias'

    def find_spec(self, fullname, path=None, target=None):
        if fullname != NAME:
            return None
        return importlib.machinery.ModuleSpec(NAME, _Loader(),
                                              origin=__file__)


def install():
    """Put the finder first on sys.meta_path (once)."""
    if not any(getattr(f, 'marker', None) == _Finder.marker
               for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
