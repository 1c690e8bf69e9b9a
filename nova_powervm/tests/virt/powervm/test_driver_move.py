"""Unit tests: resize / cold migration entry points (driver_move)."""
import os
from unittest import mock

import fixtures
from nova.compute import task_states
from nova import exception as nova_exc
from nova import objects
from nova import test

from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import driver_move
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import move_check
from nova_powervm.virt.powervm import slot_map
from nova_powervm.virt.powervm.tasks import network as tf_net
from nova_powervm.virt.powervm.tasks import vm as tf_vm


def _flavor(name, vcpus=1, mem=2048, disk=1):
    return objects.Flavor(name=name, vcpus=vcpus, memory_mb=mem,
                          root_gb=disk, extra_specs={})


class MoveTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = mock.Mock()
        self.drv.host_wrapper = mock.Mock()
        self.drv.host_uuid = 'host-1'
        self.drv.disk_dvr = mock.Mock(
            capabilities={'extend': True, 'shared_storage': False})
        self.small, self.big = _flavor('small'), _flavor('big', 2, 4096, 2)
        self.inst = mock.Mock(uuid='0b3b0f72-b3d4-4e5b-9e05-3f6e0a0c7a11',
                              flavor=self.small, old_flavor=self.small,
                              new_flavor=self.big, task_state=None)
        self.inst.name = 'inst'
        self.mig = mock.Mock(source_compute='c1', dest_compute='c1')
        self.useFixture(fixtures.MockPatchObject(
            driver_move, '_migration', return_value=self.mig))
        self.build = self.useFixture(fixtures.MockPatchObject(
            move_check.vm, 'build_lpar')).mock
        self.fits = self.useFixture(fixtures.MockPatchObject(
            move_check.pvm_host, 'check_fits')).mock
        self.power_off = self.useFixture(fixtures.MockPatchObject(
            tf_vm.power, 'power_off')).mock
        self.rpc = self.useFixture(fixtures.MockPatchObject(
            driver_move.compute_rpcapi, 'ComputeAPI')).mock

    def _migrate(self, flavor, bdi=None):
        return self.drv.migrate_disk_and_power_off(
            'ctx', self.inst, '10.0.0.2', flavor, [], bdi, timeout=0)

    def _assert_refused(self, flavor, words):
        ex = self.assertRaises(nova_exc.InstanceFaultRollback,
                               self._migrate, flavor)
        self.assertIsInstance(ex.inner_exception, nova_exc.ResizeError)
        for word in words:
            self.assertIn(word, str(ex.inner_exception))
        # Refused before anything changed: no power off, no REST change.
        self.power_off.assert_not_called()
        self.drv.adapter.update_by_path.assert_not_called()
        self.drv.adapter.create.assert_not_called()


class TestRefusals(MoveTestCase):

    def test_shrink(self):
        self.inst.flavor = self.big
        self._assert_refused(self.small, ['cannot shrink from 2 to 1 GB'])

    def test_grow_of_file_backed_disk(self):
        self.drv.disk_dvr.capabilities['extend'] = False
        self._assert_refused(self.big, ['file-backed'])

    def test_localdisk_to_another_host(self):
        self.mig.dest_compute = 'c2'
        self._assert_refused(self.small, ['storage of this host only',
                                          'disk_driver'])
        self.rpc.assert_not_called()

    def test_target_refuses(self):
        """The target's reasons (outside the pool, no FC path...)."""
        self.mig.dest_compute = 'c2'
        self.drv.disk_dvr.capabilities['shared_storage'] = True
        self.drv.disk_dvr.ssp_uuid = 'ssp-1'
        ask = self.rpc.return_value.check_instance_shared_storage
        ask.return_value = ['not in pool ssp-1', 'no FC path']
        bdi = {'block_device_mapping': [{'connection_info': {
            'driver_volume_type': 'fibre_channel',
            'data': {'volume_id': 'v1'}}}, {'connection_info': {
                'driver_volume_type': 'iscsi', 'data': {'volume_id': 'v2'}}}]}
        ex = self.assertRaises(nova_exc.InstanceFaultRollback,
                               self._migrate, self.small, bdi)
        self.assertEqual('Resize error: host c2 cannot take the instance: '
                         'not in pool ssp-1; no FC path',
                         str(ex.inner_exception))
        self.power_off.assert_not_called()
        data = ask.call_args[0][1][driver_move.move_check.KEY]
        ask.assert_called_once_with('ctx', mock.ANY, instance=self.inst,
                                    host='c2')
        self.assertEqual({'instance_uuid': self.inst.uuid,
                          'ssp_uuid': 'ssp-1',
                          'flavor': self.small.obj_to_primitive(),
                          'fc_volumes': [{'volume_id': 'v1'}]}, data)
        # The source's own capacity is not what counts.
        self.fits.assert_not_called()

    def test_target_accepts_boot_volume(self):
        self.mig.dest_compute = 'c2'
        ask = self.rpc.return_value.check_instance_shared_storage
        ask.return_value = []
        bdi = {'block_device_mapping': [{'boot_index': 0, 'mount_device':
                                         '/dev/sda', 'connection_info': {
                                             'driver_volume_type': 'fc',
                                             'serial': 'v1'}}]}
        with mock.patch.object(self.drv, '_is_booted_from_volume',
                               return_value=True), \
                mock.patch.object(self.drv, '_vios_feed_task'), \
                mock.patch.object(driver_move.tf_base, 'run') as run:
            self._migrate(self.big, bdi)
        data = ask.call_args[0][1][driver_move.move_check.KEY]
        self.assertIsNone(data['ssp_uuid'])
        self.assertEqual([{'volume_id': 'v1'}], data['fc_volumes'])
        run.assert_called_once()

    def test_target_does_not_answer(self):
        self.mig.dest_compute = 'c2'
        self.drv.disk_dvr.capabilities['shared_storage'] = True
        ask = self.rpc.return_value.check_instance_shared_storage
        ask.side_effect = Exception('timed out')
        self._assert_refused(self.small, ['c2', 'did not answer',
                                          'timed out'])

    def test_flavor_the_host_cannot_fit(self):
        self.fits.side_effect = nova_exc.ComputeResourcesUnavailable(
            reason='memory')
        ex = self.assertRaises(nova_exc.InstanceFaultRollback,
                               self._migrate, self.big)
        self.assertIsInstance(ex.inner_exception,
                              nova_exc.ComputeResourcesUnavailable)
        self.build.assert_called_once_with(
            self.drv.adapter, self.drv.host_wrapper, self.inst, self.big)
        self.power_off.assert_not_called()

    def test_same_host_powers_off_only(self):
        self.assertEqual('{"same_host": true}', self._migrate(self.big))
        self.power_off.assert_called_once_with(
            self.drv.adapter, self.inst, force_immediate=True, lpar_w=None)


class TestFinishSameHost(MoveTestCase):

    def test_resize_applies_flavor_and_grows_disk(self):
        get = self.useFixture(fixtures.MockPatchObject(
            tf_vm.vm, 'get_instance_wrapper')).mock
        power_on = self.useFixture(fixtures.MockPatchObject(
            tf_vm.power, 'power_on')).mock
        self.inst.flavor = self.big
        self.drv.finish_migration('ctx', self.mig, self.inst, '{}', [],
                                  None, True, {}, None, power_on=True)
        self.build.assert_called_once_with(
            self.drv.adapter, self.drv.host_wrapper, self.inst, self.big,
            existing=get.return_value)
        self.build.return_value.update.assert_called_once_with()
        self.drv.disk_dvr.extend_disk.assert_called_once_with(
            self.inst, None, 2)
        power_on.assert_called_once_with(
            self.drv.adapter, self.inst,
            lpar_w=self.build.return_value.update.return_value, opts=None)

    def test_failed_grow_restores_old_flavor(self):
        get = self.useFixture(fixtures.MockPatchObject(
            tf_vm.vm, 'get_instance_wrapper')).mock
        self.inst.flavor = self.big
        self.drv.disk_dvr.extend_disk.side_effect = ValueError('full')
        self.assertRaises(exc.PowerVMTaskFailed, self.drv.finish_migration,
                          'ctx',
                          self.mig, self.inst, '{}', [], None, True, {},
                          None)
        self.assertEqual(
            [mock.call(self.drv.adapter, self.drv.host_wrapper, self.inst,
                       self.big, existing=get.return_value),
             mock.call(self.drv.adapter, self.drv.host_wrapper, self.inst,
                       self.small, existing=get.return_value)],
            self.build.call_args_list)


class TestFinishAcrossHosts(MoveTestCase):

    def test_flow_creates_the_partition_then_plugs_without_reading(self):
        self.mig.dest_compute = 'c2'
        self.inst.task_state = task_states.RESIZE_FINISH
        self.drv.disk_dvr.boot_disks.return_value = ['lu']
        run = self.useFixture(fixtures.MockPatchObject(
            driver_move.tf_base, 'run')).mock
        self.useFixture(fixtures.MockPatchObject(
            driver_move.driver_rebuild, 'record'))
        self.useFixture(fixtures.MockPatch(
            'nova.virt.configdrive.required_by', return_value=False))
        with mock.patch.object(self.drv, '_vios_feed_task',
                               return_value=mock.Mock(name='vio_feed')):
            self.drv.finish_migration('ctx', self.mig, self.inst, '{}',
                                      ['vif'], None, False, {}, None,
                                      power_on=False)
        atoms = list(run.call_args.args[0])
        self.assertIsInstance(atoms[0], tf_vm.Create)
        self.assertIsInstance(atoms[1], tf_net.PlugVifs)
        self.assertEqual(['vif'], atoms[1].network_info)
        # The partition created just before has no adapters to read.
        self.assertTrue(atoms[1].new_partition)


class TestRevertAndShared(MoveTestCase):

    def test_same_host_revert_keeps_the_partition(self):
        self.inst.task_state = task_states.RESIZE_REVERTING
        with mock.patch.object(driver.vm, 'get_instance_wrapper') as get:
            self.drv.destroy('ctx', self.inst, [])
        get.assert_not_called()

    def test_reverted_target_keeps_a_shared_disk(self):
        self.inst.task_state = task_states.RESIZE_REVERTING
        self.drv.disk_dvr.capabilities['shared_storage'] = True
        self.assertTrue(driver_move.keep_disks(self.drv, self.inst))
        self.inst.task_state = None
        self.assertFalse(driver_move.keep_disks(self.drv, self.inst))

    def test_shared_storage_check(self):
        self.drv.disk_dvr.ssp_uuid = 'ssp-1'
        check = self.drv.check_instance_shared_storage_remote
        self.assertTrue(check('ctx', {'host_uuid': 'host-1'}))
        self.assertTrue(check('ctx', {'host_uuid': 'h2', 'ssp_uuid': 'ssp-1'}))
        self.assertFalse(check('ctx', {'host_uuid': 'h2', 'ssp_uuid': 'x'}))
        self.assertFalse(check('ctx', {'host_uuid': 'h2', 'ssp_uuid': None}))


class TestConfirmSlotMap(MoveTestCase):
    """The source's slot map goes when a migration is confirmed."""

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', slot_map_store='local',
                   slot_map_dir=self.useFixture(fixtures.TempDir()).path)
        self.destroy = self.useFixture(fixtures.MockPatchObject(
            self.drv, 'destroy')).mock

    def _save(self, owner):
        store = slot_map.LocalSlotMapStore(self.inst.uuid, load=False)
        store.owner = owner
        store._reg_slot('CNA', 'FA163E000001', 4, extra_spec='ETHERNET0')
        store.save()
        return slot_map.LocalSlotMapStore.path(self.inst.uuid)

    def test_other_host_confirm_deletes_this_hosts_map(self):
        path = self._save('host-1')
        self.mig.dest_compute = 'c2'
        self.drv.confirm_migration('ctx', self.mig, self.inst, [])
        self.destroy.assert_called_once_with('ctx', self.inst, [],
                                             destroy_disks=False)
        self.assertFalse(os.path.exists(path))

    def test_shared_dir_keeps_the_targets_map(self):
        path = self._save('host-2')
        self.mig.dest_compute = 'c2'
        self.drv.confirm_migration('ctx', self.mig, self.inst, [])
        self.assertTrue(os.path.exists(path))

    def test_same_host_confirm_keeps_the_map(self):
        path = self._save('host-1')
        self.drv.confirm_migration('ctx', self.mig, self.inst, [])
        self.destroy.assert_not_called()
        self.assertTrue(os.path.exists(path))


class TestSlotMapAcrossHosts(MoveTestCase):
    """A cold migration's target saves the new partition's map; a revert
    lets the source save its own again (driver_rebuild.returned).
    """

    def setUp(self):
        super().setUp()
        self.mig.dest_compute = 'c2'
        self.run = self.useFixture(fixtures.MockPatchObject(
            driver_move.tf_base, 'run')).mock
        self.record = self.useFixture(fixtures.MockPatchObject(
            driver_move.driver_rebuild, 'record')).mock
        self.returned = self.useFixture(fixtures.MockPatchObject(
            driver_move.driver_rebuild, 'returned')).mock
        self.ftsk = mock.Mock()

    def _finish(self):
        with mock.patch.object(self.drv, '_add_create_tasks',
                               return_value=({'disk_dev_info': 'lu'},
                                             self.ftsk)):
            self.drv.finish_migration('ctx', self.mig, self.inst, '{}', [],
                                      None, False, {}, None)

    def test_target_saves_the_new_partitions_map(self):
        self._finish()
        self.assertEqual({'disk_dev_info': 'lu'},
                         self.run.call_args.kwargs['store'])
        # From the flow's adapters and VIOS feed: no request.
        self.record.assert_called_once_with(
            self.drv, self.inst, self.run.return_value, self.ftsk.feed)

    def test_failed_finish_saves_nothing(self):
        self.run.side_effect = exc.PowerVMTaskFailed(task='t', reason='r')
        self.assertRaises(exc.PowerVMTaskFailed, self._finish)
        self.record.assert_not_called()

    def test_same_host_resize_keeps_the_map(self):
        self.mig.dest_compute = 'c1'
        self.drv.finish_migration('ctx', self.mig, self.inst, '{}', [],
                                  None, False, {}, None)
        self.run.assert_called_once()
        self.record.assert_not_called()

    def test_revert_at_the_source(self):
        self.drv.finish_revert_migration('ctx', self.inst, [], self.mig)
        self.returned.assert_called_once_with(self.drv, self.inst, None)

    def test_revert_with_volumes_passes_its_vios_feed(self):
        bdi = {'block_device_mapping': [{'connection_info': {}}]}
        with mock.patch.object(self.drv, '_vios_feed_task',
                               return_value=self.ftsk), \
                mock.patch.object(driver_move.driver_volume,
                                  'add_connect_tasks'):
            self.drv.finish_revert_migration('ctx', self.inst, [], self.mig,
                                             block_device_info=bdi)
        self.returned.assert_called_once_with(self.drv, self.inst,
                                              self.ftsk.feed)

    def test_same_host_revert_keeps_the_map(self):
        self.mig.dest_compute = 'c1'
        self.drv.finish_revert_migration('ctx', self.inst, [], self.mig)
        self.returned.assert_not_called()


class TestMgmtCachePerEndpoint(test.NoDBTestCase):

    def test_each_endpoint_its_own_uuid(self):
        mgmt._reset_cache()
        self.addCleanup(mgmt._reset_cache)
        adapters = [mock.Mock(), mock.Mock(), mock.Mock()]
        for i, adpt in enumerate(adapters):
            adpt.session.host, adpt.session.port = '127.0.0.1', 1000 + i % 2
        with mock.patch.object(mgmt.pvm_par, 'get_mgmt_partition') as get:
            get.side_effect = lambda a: mock.Mock(uuid='m%d' % a.session.port)
            self.assertEqual(['m1000', 'm1001', 'm1000'],
                             [mgmt.mgmt_uuid(a) for a in adapters])
        self.assertEqual(2, get.call_count)
