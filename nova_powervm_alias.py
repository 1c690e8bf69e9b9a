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

The same finder makes every process that imports nova's live migration
objects (nova-conductor too, which never loads the driver) register the
driver's ``PowerVMLiveMigrateData`` right after them: nova 34 has none of
its own, and a process without it cannot pass the live migration data on.

This is a top-level module, not part of the ``nova_powervm`` package, so
that interpreter start-up does not import ``nova_powervm`` (a source
checkout's tests would otherwise find the installed copy already loaded).
"""
import importlib
import importlib.abc
import importlib.machinery
import logging
import sys

NAME = 'nova.virt.powervm'
# After nova's live migration objects, the driver's own.
OBJECTS = 'nova.objects.migrate_data'
OUR_OBJECTS = 'nova_powervm.objects.migrate_data'


class _Loader(importlib.abc.Loader):

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from nova_powervm.virt.powervm import driver
        module.PowerVMDriver = driver.PowerVMDriver
        module.__all__ = ['PowerVMDriver']


class _ThenOurObjects(importlib.abc.Loader):
    """nova's own loader of OBJECTS, then OUR_OBJECTS is imported."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            importlib.import_module(OUR_OBJECTS)
        except Exception:
            logging.getLogger(__name__).exception(
                'PowerVMLiveMigrateData not registered: live migrations '
                'of PowerVM instances fail in this process.')


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``nova.virt.powervm``; hooks nova's OBJECTS."""

    marker = 'nova_powervm_alias'

    def find_spec(self, fullname, path=None, target=None):
        if fullname == OBJECTS:
            return self._hooked(fullname, path, target)
        if fullname != NAME:
            return None
        return importlib.machinery.ModuleSpec(NAME, _Loader(),
                                              origin=__file__)

    def _hooked(self, fullname, path, target):
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ThenOurObjects(spec.loader)
                return spec
        return None


def install():
    """Put the finder first on sys.meta_path (once)."""
    if not any(getattr(f, 'marker', None) == _Finder.marker
               for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
