"""Unit tests: the driver's capabilities and plug_vifs."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from nova.virt import driver as nova_driver
from pypowervm import exceptions as pvm_exc

from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import network as tf_net

# A capability may be true only if the driver implements what nova then
# calls (nova's base class raises NotImplementedError for these).
_NEEDS = {
    'has_imagecache': 'manage_image_cache',
    # nova's default rebuild (destroy, spawn) serves evacuate; the driver
    # must say whether the disk is reachable (the base says never).
    'supports_evacuate': 'instance_on_disk',
    'supports_migrate_to_same_host': 'migrate_disk_and_power_off',
    'supports_attach_interface': 'attach_interface',
    'supports_tagged_attach_interface': 'attach_interface',
    'supports_extend_volume': 'extend_volume',
    'supports_bfv_rescue': 'rescue',
}


def _disk(formats, imagecache=True):
    return mock.Mock(capabilities={'has_imagecache': imagecache},
                     image_formats=formats)


class TestCapabilities(test.NoDBTestCase):

    def _true(self, caps):
        return sorted(k for k, v in caps.items() if v)

    def test_image_types_follow_disk_driver(self):
        caps = driver.PowerVMDriver.disk_capabilities(_disk(('raw',)))
        self.assertEqual(['has_imagecache', 'supports_attach_interface',
                          'supports_evacuate', 'supports_extend_volume',
                          'supports_image_type_raw'], self._true(caps))
        caps = driver.PowerVMDriver.disk_capabilities(
            _disk(('raw', 'qcow2'), imagecache=False))
        self.assertEqual(['supports_attach_interface',
                          'supports_evacuate', 'supports_extend_volume',
                          'supports_image_type_qcow2',
                          'supports_image_type_raw'], self._true(caps))
        self.assertEqual(set(nova_driver.ComputeDriver.capabilities),
                         set(caps))

    def test_init_host_sets_them(self):
        drv = driver.PowerVMDriver(mock.Mock())
        self.useFixture(fixtures.MockPatchObject(driver.pvm_session,
                                                 'build_adapter'))
        # VIOS wait, HMC refusal, scrub, host read: see test_startup.
        self.useFixture(fixtures.MockPatchObject(driver.startup,
                                                 'prepare_host'))
        self.useFixture(fixtures.MockPatchObject(driver.mgmt, 'mgmt_uuid'))
        self.useFixture(fixtures.MockPatchObject(driver.pvm_event,
                                                 'start_listener'))
        self.useFixture(fixtures.MockPatchObject(
            driver.disk_dvr, 'get_disk_driver',
            return_value=_disk(('raw', 'qcow2'))))
        self.assertFalse(drv.capabilities['supports_image_type_qcow2'])
        drv.init_host('h')
        self.assertTrue(drv.capabilities['supports_image_type_qcow2'])
        self.assertTrue(drv.capabilities['has_imagecache'])
        # The class declaration is not changed.
        self.assertFalse(
            driver.PowerVMDriver.capabilities['supports_image_type_qcow2'])

    def test_nothing_advertised_that_is_not_implemented(self):
        caps = driver.PowerVMDriver.disk_capabilities(
            _disk(('raw', 'qcow2')))
        for key, method in _NEEDS.items():
            implemented = (getattr(driver.PowerVMDriver, method) is not
                           getattr(nova_driver.ComputeDriver, method))
            if caps[key]:
                self.assertTrue(implemented, '%s needs %s' % (key, method))
        # Rescue of image-backed instances only: volume-backed ones are
        # refused by nova's API (supports_bfv_rescue) and by the driver.
        for method in ('rescue', 'unrescue'):
            self.assertIsNot(getattr(nova_driver.ComputeDriver, method),
                             getattr(driver.PowerVMDriver, method))
        self.assertFalse(caps['supports_bfv_rescue'])
        # Live migration (nova 34 has no capability flag for it): every
        # step nova calls is the driver's own; force complete refuses.
        for method in ('check_can_live_migrate_destination',
                       'check_can_live_migrate_source',
                       'cleanup_live_migration_destination_check',
                       'pre_live_migration', 'live_migration',
                       'live_migration_abort', 'post_live_migration',
                       'post_live_migration_at_source',
                       'post_live_migration_at_destination',
                       'rollback_live_migration_at_source',
                       'rollback_live_migration_at_destination',
                       'live_migration_force_complete'):
            self.assertIsNot(getattr(nova_driver.ComputeDriver, method),
                             getattr(driver.PowerVMDriver, method))
        # Interfaces are hot-plugged, but not tagged (no device metadata).
        self.assertTrue(caps['supports_attach_interface'])
        self.assertFalse(caps['supports_tagged_attach_interface'])
        for method in ('attach_interface', 'detach_interface',
                       'get_vnc_console'):
            self.assertIsNot(getattr(nova_driver.ComputeDriver, method),
                             getattr(driver.PowerVMDriver, method))


class TestPlugVifs(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = mock.Mock()
        self.vm = self.useFixture(fixtures.MockPatchObject(driver, 'vm')).mock
        self.run = self.useFixture(fixtures.MockPatchObject(
            driver.tf_base, 'run')).mock
        self.inst = mock.Mock(uuid='inst-uuid')

    def test_flow_plugs_vifs_then_rmc_adapter_on_the_partition(self):
        self.drv.plug_vifs(self.inst, ['vif1'])
        flow = self.run.call_args[0][0]
        plug, mgmt = list(flow)
        self.assertIsInstance(plug, tf_net.PlugVifs)
        self.assertEqual(['vif1'], plug.network_info)
        self.assertIs(self.drv.adapter, plug.adapter)
        self.assertIsInstance(mgmt, tf_net.PlugMgmtVif)
        self.assertEqual(
            {'lpar_wrap': self.vm.get_instance_wrapper.return_value},
            self.run.call_args[1]['store'])
        self.assertEqual(exc.VifReplugFailed,
                         self.run.call_args[1]['exc_class'])
        self.vm.get_instance_wrapper.assert_called_once_with(
            self.drv.adapter, self.inst)

    def test_missing_partition_plugs_nothing(self):
        self.vm.get_instance_wrapper.side_effect = nova_exc.InstanceNotFound(
            instance_id='inst-uuid')
        self.drv.plug_vifs(self.inst, ['vif1'])
        self.run.assert_not_called()

    def test_read_failure_is_a_plug_exception(self):
        # nova-compute's start-up survives only VirtualInterfacePlugException.
        self.vm.get_instance_wrapper.side_effect = pvm_exc.Error('down')
        ex = self.assertRaises(nova_exc.VirtualInterfacePlugException,
                               self.drv.plug_vifs, self.inst, ['vif1'])
        self.assertIn('read_partition', str(ex))
        self.assertIn('down', str(ex))
        self.run.assert_not_called()
