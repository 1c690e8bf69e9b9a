"""Unit tests for the lifecycle entry points of driver.py (flows mocked)."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from taskflow import task

from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import power
from nova_powervm.virt.powervm import state_cache


_OVS_VIF = {'id': 'port1', 'type': 'ovs'}
_SEA_VIF = {'id': 'port2', 'type': 'pvm_sea'}


class _FeedTask(task.Task):
    """Stands in for the pypowervm FeedTask over the VIOSes."""

    feed = []

    def execute(self):
        pass

    def release(self):
        pass


class TestDriverLifecycle(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = mock.Mock()
        self.drv.host_wrapper = mock.Mock()
        self.drv.host_uuid = 'host-uuid'
        self.drv.disk_dvr = mock.Mock()
        self.vm = self.useFixture(fixtures.MockPatchObject(driver, 'vm')).mock
        self.power = self.useFixture(fixtures.MockPatchObject(
            driver, 'power')).mock
        self.fits = self.useFixture(fixtures.MockPatchObject(
            driver.pvm_host, 'check_fits')).mock
        self.run = self.useFixture(fixtures.MockPatchObject(
            driver.tf_base, 'run')).mock
        self.run.return_value.storage.fetch_all.return_value = {}
        self.ftsk = self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.vios_feed.FeedTask.build')).mock
        self.ftsk.return_value = _FeedTask(name='vio_feed')
        self.inst = mock.Mock(uuid='inst-uuid', config_drive=None)
        self.cfgdrv = self.useFixture(fixtures.MockPatch(
            'nova.virt.configdrive.required_by', return_value=False)).mock

    def flow_names(self):
        flow = self.run.call_args[0][0]
        return [atom.name for atom in flow]

    def test_spawn_flow_order(self):
        self.drv.spawn('ctx', self.inst, 'img', [], 'pw', {}, ['vif'])
        self.assertEqual(
            ['create_vm', 'plug_vifs', 'plug_mgmt_vif',
             'create_disk_from_img', 'attach_disk', 'vio_feed', 'pwr_on_vm'],
            self.flow_names())
        self.vm.build_lpar.assert_called_once_with(
            self.drv.adapter, self.drv.host_wrapper, self.inst)
        create, plug = list(self.run.call_args[0][0])[:2]
        self.assertEqual(self.vm.build_lpar.return_value, create.lpar_w)
        # The partition the flow creates has no adapters to read.
        self.assertTrue(plug.new_partition)
        self.assertEqual(exc.SpawnTaskFailed,
                         self.run.call_args[1]['exc_class'])
        # Mappings only: no storage xag on the VIOS feed.
        self.assertEqual(['ViosSCSIMapping'],
                         self.ftsk.call_args[0][1])

    def test_spawn_gives_its_vioses_back(self):
        # Built from the VIOSes kept by this process (batch), given back
        # once the flow ran and the slot map is saved; not after a failure.
        ftsk = self.ftsk.return_value
        with mock.patch.object(ftsk, 'release') as release:
            self.drv.spawn('ctx', self.inst, 'img', [], 'pw', {}, ['vif'])
        self.assertEqual({'reuse': True}, self.ftsk.call_args[1])
        release.assert_called_once_with()
        self.run.side_effect = exc.SpawnTaskFailed(task='t', reason='r')
        with mock.patch.object(ftsk, 'release') as release:
            self.assertRaises(exc.SpawnTaskFailed, self.drv.spawn, 'ctx',
                              self.inst, 'img', [], 'pw', {}, ['vif'])
        release.assert_not_called()
        # Volume connectors read the feed before their changes: a GET.
        self.drv._vios_feed_task(volumes=True)
        self.assertEqual({'reuse': False}, self.ftsk.call_args[1])

    def test_spawn_without_rmc_has_no_mgmt_vif_task(self):
        self.flags(use_rmc_mgmt_vif=False, group='powervm')
        self.drv.spawn('ctx', self.inst, 'img', [], 'pw', {}, ['vif'])
        self.assertEqual(
            ['create_vm', 'plug_vifs', 'create_disk_from_img',
             'attach_disk', 'vio_feed', 'pwr_on_vm'], self.flow_names())

    def test_plug_vifs_without_rmc_has_no_mgmt_vif_task(self):
        self.flags(use_rmc_mgmt_vif=False, group='powervm')
        self.drv.plug_vifs(self.inst, [_SEA_VIF])
        self.assertEqual(['plug_vifs'], self.flow_names())
        # An existing partition: its adapters are read.
        self.assertFalse(list(self.run.call_args[0][0])[0].new_partition)

    def test_spawn_checks_size_and_image_before_the_flow(self):
        self.fits.side_effect = nova_exc.ComputeResourcesUnavailable(
            reason='too big')
        self.assertRaises(nova_exc.ComputeResourcesUnavailable,
                          self.drv.spawn, 'ctx', self.inst, 'img', [], 'pw',
                          {}, [])
        self.fits.assert_called_once_with(
            self.drv.host_wrapper, self.vm.build_lpar.return_value,
            self.inst)
        self.fits.side_effect = None
        self.drv.disk_dvr.check_image.side_effect = (
            nova_exc.ImageUnacceptable(image_id='img', reason='vmdk'))
        self.assertRaises(nova_exc.ImageUnacceptable, self.drv.spawn, 'ctx',
                          self.inst, 'img', [], 'pw', {}, [])
        self.drv.disk_dvr.check_image.assert_called_once_with('img')
        self.run.assert_not_called()
        self.ftsk.assert_not_called()

    def test_spawn_config_drive_no_power_on(self):
        self.cfgdrv.return_value = True
        self.drv.spawn('ctx', self.inst, 'img', [], 'pw', {}, [],
                       power_on=False)
        names = self.flow_names()
        self.assertEqual(['create_vm', 'plug_vifs', 'plug_mgmt_vif',
                          'create_disk_from_img', 'attach_disk', 'cfg_drive',
                          'vio_feed'], names)

    def test_spawn_invalid_flavor_before_anything(self):
        self.vm.build_lpar.side_effect = exc.InvalidFlavorExtraSpec(
            key='powervm:uncapped', value='x', reason='r', allowed='a')
        self.assertRaises(exc.InvalidFlavorExtraSpec, self.drv.spawn, 'ctx',
                          self.inst, 'img', [], 'pw', {}, [])
        self.assertFalse(self.ftsk.called)
        self.assertFalse(self.run.called)

    def test_destroy_flow_order(self):
        self.drv.destroy('ctx', self.inst, [_OVS_VIF])
        self.assertEqual(['pwr_off_vm', 'detach_disk', 'delete_disk',
                          'unplug_vifs', 'dlt_vm', 'release_sea_vlans'],
                         self.flow_names())
        kwargs = self.run.call_args[1]
        self.assertEqual({'lpar_wrap':
                          self.vm.get_instance_wrapper.return_value},
                         kwargs['store'])
        self.assertEqual(exc.DestroyTaskFailed, kwargs['exc_class'])
        atoms = list(self.run.call_args[0][0])
        self.assertTrue(atoms[0].force_immediate)
        self.assertTrue(atoms[3].partition_deleted)
        # No volumes, no config drive: no VIOS feed read.
        self.assertFalse(self.ftsk.called)

    def test_destroy_stops_snapshot_and_detaches_its_mapping(self):
        # A snapshot in progress is stopped before anything else; whatever
        # it still maps to the management partition goes with the
        # instance's mappings (before the disk delete, which NovaLink
        # refuses for a mapped disk).
        calls = mock.Mock()
        self.useFixture(fixtures.MockPatchObject(
            driver.snapshot_cancel, 'cancel', calls.cancel))
        self.vm.get_instance_wrapper.side_effect = calls.get_wrapper
        self.run.side_effect = calls.run
        self.drv.destroy('ctx', self.inst, [])
        self.assertEqual(['cancel', 'get_wrapper', 'run'],
                         [c[0] for c in calls.mock_calls])
        calls.cancel.assert_called_once_with(self.inst)
        detach = list(self.run.call_args[0][0])[1]
        self.assertEqual(('detach_disk', True),
                         (detach.name, detach.with_mgmt))
        # Partition already gone: the same.
        self.vm.get_instance_wrapper.side_effect = nova_exc.InstanceNotFound(
            instance_id='inst-uuid')
        self.drv.destroy('ctx', self.inst, [])
        self.assertEqual(2, calls.cancel.call_count)
        detach = list(self.run.call_args[0][0])[0]
        self.assertEqual(('detach_disk', True),
                         (detach.name, detach.with_mgmt))

    def test_destroy_without_ovs_vif_has_no_unplug_task(self):
        # The partition's own adapters go with it: nothing to unplug.
        for vifs in ([_SEA_VIF], [], None):
            self.drv.destroy('ctx', self.inst, vifs)
            self.assertEqual(['pwr_off_vm', 'detach_disk', 'delete_disk',
                              'dlt_vm', 'release_sea_vlans'],
                             self.flow_names())
        self.vm.get_instance_wrapper.side_effect = nova_exc.InstanceNotFound(
            instance_id='inst-uuid')
        self.drv.destroy('ctx', self.inst, [_SEA_VIF])
        self.assertEqual(['detach_disk', 'delete_disk', 'forget_nvram',
                          'release_sea_vlans'], self.flow_names())

    def test_destroy_refuses_partition_that_cannot_be_deleted(self):
        # The real check: a suspended partition would be refused by the
        # final DELETE, after its disks were deleted.
        self.power.check_deletable.side_effect = power.check_deletable
        self.vm.get_instance_wrapper.return_value = mock.Mock(
            state='suspended')
        err = self.assertRaises(nova_exc.InstanceTerminationFailure,
                                self.drv.destroy, 'ctx', self.inst, [])
        self.assertIn('suspended', str(err))
        self.assertFalse(self.run.called)
        self.vm.get_instance_wrapper.return_value.state = 'not activated'
        self.drv.destroy('ctx', self.inst, [])
        self.assertTrue(self.run.called)

    def test_destroy_keep_disks_with_config_drive(self):
        self.cfgdrv.return_value = True
        self.drv.destroy('ctx', self.inst, [_OVS_VIF], destroy_disks=False)
        self.assertEqual(['pwr_off_vm', 'vopt_delete', 'detach_disk',
                          'unplug_vifs', 'dlt_vm', 'release_sea_vlans'],
                         self.flow_names())
        self.assertFalse(list(self.run.call_args[0][0])[0].force_immediate)

    def test_destroy_missing_partition(self):
        self.vm.get_instance_wrapper.side_effect = nova_exc.InstanceNotFound(
            instance_id='inst-uuid')
        self.drv.destroy('ctx', self.inst, [_OVS_VIF])
        # Only what outlives the partition is removed (and its saved NVRAM).
        self.assertEqual(['detach_disk', 'delete_disk', 'unplug_vifs',
                          'forget_nvram', 'release_sea_vlans'],
                         self.flow_names())
        self.assertNotIn('store', self.run.call_args[1])
        atoms = list(self.run.call_args[0][0])
        self.assertTrue(atoms[2].partition_deleted)

    def test_destroy_partition_vanishes(self):
        # The partition disappears while the flow runs: the delete was
        # attempted (the whole flow ran) and destroy succeeds.
        self.run.side_effect = nova_exc.InstanceNotFound(instance_id='x')
        self.assertIsNone(self.drv.destroy('ctx', self.inst, []))
        self.assertEqual(1, self.run.call_count)
        self.assertEqual(['dlt_vm', 'release_sea_vlans'],
                         self.flow_names()[-2:])

    def test_destroy_failure_raises(self):
        self.run.side_effect = exc.DestroyTaskFailed(task='detach_disk',
                                                     reason='busy')
        err = self.assertRaises(nova_exc.InstanceTerminationFailure,
                                self.drv.destroy, 'ctx', self.inst, [])
        self.assertIn('detach_disk', str(err))

    def test_power_off_timeouts(self):
        self.drv.power_off(self.inst, timeout=60, retry_interval=10)
        self.power.power_off.assert_called_with(
            self.drv.adapter, self.inst, force_immediate=False, timeout=60)
        self.drv.power_off(self.inst)
        self.power.power_off.assert_called_with(
            self.drv.adapter, self.inst, force_immediate=True, timeout=None)

    def test_power_on_reboot_info_list(self):
        self.drv.power_on('ctx', self.inst, [])
        self.power.power_on.assert_called_once_with(self.drv.adapter,
                                                    self.inst)
        self.drv.reboot('ctx', self.inst, [], 'HARD')
        self.power.reboot.assert_called_with(self.drv.adapter, self.inst, True)
        self.drv.reboot('ctx', self.inst, [], 'SOFT')
        self.power.reboot.assert_called_with(self.drv.adapter, self.inst,
                                             False)
        # No event listener: one quick GET per get_info, as without cache.
        st_vm = self.useFixture(fixtures.MockPatchObject(
            state_cache, 'vm')).mock
        self.assertEqual(st_vm.get_info.return_value,
                         self.drv.get_info(self.inst))
        st_vm.get_info.assert_called_once_with(self.drv.adapter, self.inst)
        with mock.patch.object(state_cache, 'read_all', return_value={
                'A': {'PartitionName': 'a'}, 'B': {'PartitionName': 'b'}}):
            self.assertEqual(['a', 'b'], self.drv.list_instances())
        self.assertTrue(self.drv.instance_exists(self.inst))
        st_vm.get_info.side_effect = nova_exc.InstanceNotFound(
            instance_id='x')
        self.assertFalse(self.drv.instance_exists(self.inst))

    def test_resume_state_on_host_boot(self):
        self.drv.resume_state_on_host_boot('ctx', self.inst, [])
        self.power.resume_on_host_boot.assert_called_once_with(
            self.drv.adapter, self.inst)

    def test_snapshot_checks_partition_before_the_flow(self):
        self.drv.disk_dvr.capabilities = {'snapshot': True}
        for error in (nova_exc.InstanceNotFound(instance_id='inst-uuid'),
                      nova_exc.InstanceNotRunning(instance_id='inst-uuid')):
            self.power.check_snapshot_state.side_effect = error
            self.assertRaises(type(error), self.drv.snapshot, 'ctx',
                              self.inst, 'img', mock.Mock())
            self.power.check_snapshot_state.assert_called_with(
                self.drv.adapter, self.inst)
            self.assertFalse(self.run.called)
        self.power.check_snapshot_state.side_effect = None
        self.drv.snapshot('ctx', self.inst, 'img', mock.Mock())
        self.assertTrue(self.run.called)

    def test_manage_image_cache(self):
        self.drv.manage_image_cache('ctx', ['i'])
        self.drv.disk_dvr.manage_image_cache.assert_called_once_with(
            'ctx', ['i'])


class TestInitHost(test.NoDBTestCase):

    @mock.patch.object(driver.startup, 'freeze_gc')
    @mock.patch.object(driver.sea_vlan, 'warm')
    @mock.patch.object(driver.pvm_event, 'start_listener')
    @mock.patch.object(driver.mgmt, 'mgmt_uuid')
    @mock.patch.object(driver.disk_dvr, 'get_disk_driver')
    @mock.patch.object(driver.startup, 'prepare_host')
    @mock.patch.object(driver.pvm_session, 'build_adapter')
    def test_init_and_cleanup(self, build, get_host, get_disk, mgmt_uuid,
                              start, warm, freeze):
        get_disk.return_value.capabilities = {'has_imagecache': True}
        get_disk.return_value.image_formats = ('raw', 'qcow2')
        drv = driver.PowerVMDriver(mock.Mock())
        drv.init_host('h')
        # VIOS wait, HMC refusal and scrub run on the new adapter first.
        get_host.assert_called_once_with(build.return_value)
        self.assertEqual(get_host.return_value, drv.host_wrapper)
        get_disk.assert_called_once_with(build.return_value,
                                         get_host.return_value.uuid)
        self.assertTrue(drv.capabilities['has_imagecache'])
        self.assertFalse(driver.PowerVMDriver.capabilities['has_imagecache'])
        mgmt_uuid.assert_called_once_with(build.return_value)
        # The SEAs' VLANs are learnt once, before any plug.
        warm.assert_called_once_with(build.return_value,
                                     get_host.return_value.uuid)
        start.assert_called_once_with(drv)
        # Start-up objects leave the cyclic GC once everything is set up.
        freeze.assert_called_once_with()
        with mock.patch.object(driver.pvm_event, 'stop_listener') as stop:
            drv.cleanup_host('h')
        stop.assert_called_once_with(drv, start.return_value)
