"""nova_powervm_alias: the start-up finder for ``nova.virt.powervm``."""
import importlib.util
import sys


from nova_powervm.tests import base as test_base
from nova_powervm.virt.powervm import driver
import nova_powervm_alias as alias


class TestAlias(test_base.TestCase):

    def test_finds_only_the_driver_name(self):
        finder = alias._Finder()
        self.assertIsNone(finder.find_spec('nova.virt.fake'))
        self.assertIsNone(finder.find_spec('nova.virt.powervm.driver'))
        spec = finder.find_spec('nova.virt.powervm')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertIs(driver.PowerVMDriver, module.PowerVMDriver)

    def test_install_once_and_first(self):
        saved = list(sys.meta_path)
        self.addCleanup(setattr, sys, 'meta_path', saved)
        marker = alias._Finder.marker
        sys.meta_path[:] = [f for f in saved
                            if getattr(f, 'marker', None) != marker]
        alias.install()
        alias.install()
        mine = [f for f in sys.meta_path
                if getattr(f, 'marker', None) == marker]
        self.assertEqual(1, len(mine))
        self.assertIs(mine[0], sys.meta_path[0])
