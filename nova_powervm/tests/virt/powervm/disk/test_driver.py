"""Unit tests for the shared logic of the disk driver interface."""
import time
from unittest import mock

from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.virt.powervm.disk import fake_adapter
from nova_powervm.tests.virt.powervm import test_vm
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import pvm_private

INST_UUID = '4d6a0c1b-aaaa-4bbb-8ccc-ddddeeeeffff'
LPAR_UUID = '4D6A0C1B-AAAA-4BBB-8CCC-DDDDEEEEFFFF'
OTHER_LPAR = '1E6A0C1B-AAAA-4BBB-8CCC-DDDDEEEEFFFF'
MGMT_UUID = '2F6A0C1B-AAAA-4BBB-8CCC-DDDDEEEEFFFF'


class FakeDisk(disk_dvr.DiskAdapter):
    """The smallest implementation: everything else comes from the base."""

    vios_uuids = ['vios-1', 'vios-2']
    capacity = 10.0
    capacity_used = 1.0

    def create_disk_from_image(self, context, instance, image_meta,
                               disk_type='boot'):
        raise AssertionError('not used')

    def delete_disks(self, storage_elems):
        raise AssertionError('not used')

    def boot_disks(self, instance, disk_types=('boot',)):
        return ['unmapped-%s' % dtype for dtype in disk_types]


def _inst():
    inst = mock.Mock(uuid=INST_UUID)
    inst.name = 'my-server'
    return inst


class TestDiskAdapter(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = fake_adapter.adapter_with_hrefs()
        self.drv = FakeDisk(self.adpt, 'host-uuid')
        self.inst = _inst()
        self.boot = self.drv.get_disk_name('boot', self.inst)
        self.feed = [self._vios('vios-1'), self._vios('vios-2'),
                     self._vios('vios-3')]
        p = mock.patch('pypowervm.wrappers.virtual_io_server.VIOS.get',
                       return_value=self.feed)
        self.mock_get = p.start()
        self.addCleanup(p.stop)

    def _vios(self, uuid):
        vwrap = mock.Mock(spec=pvm_vios.VIOS, uuid=uuid, scsi_mappings=[],
                          adapter=self.adpt)
        vwrap.name = 'name-' + uuid
        vwrap.update.return_value = vwrap
        # Unchanged since kept (a conditional GET answers 304).
        vwrap.refresh.return_value = vwrap
        return vwrap

    def _map(self, vwrap, lpar_uuid, stg):
        smap = pvm_vios.VSCSIMapping.bld(self.adpt, None, lpar_uuid, stg)
        vwrap.scsi_mappings.append(smap)
        return smap

    def _lu(self, name, udid='27aa'):
        return pvm_stg.LU.bld_ref(self.adpt, name, udid)

    def test_disk_names(self):
        self.assertEqual('boot_my_server_4d6a0c1b', self.boot)
        short = self.drv.get_disk_name('boot', self.inst, short=True)
        self.assertEqual('b_4d6a0c1baaaa4', short)
        self.assertLessEqual(len(short), 15)
        self.inst.name = 'x' * 100
        self.assertEqual(79, len(self.drv.get_disk_name('image', self.inst)))

    def test_instance_disk_iter_filters(self):
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[0], LPAR_UUID, self._lu('someone_else'))
        self._map(self.feed[0], OTHER_LPAR, self._lu(self.boot, '27bb'))
        self._map(self.feed[1], LPAR_UUID, self._lu(self.boot))
        # vios-3 is not one of this driver's VIOSes.
        self._map(self.feed[2], LPAR_UUID, self._lu(self.boot))
        found = list(self.drv.instance_disk_iter(self.inst))
        self.assertEqual([(self.boot, 'vios-1'), (self.boot, 'vios-2')],
                         [(s.name, v.uuid) for s, v in found])
        self.mock_get.assert_called_once_with(self.adpt,
                                              xag=['ViosSCSIMapping'])
        self.assertEqual(self.boot,
                         self.drv.get_bootdisk_storage(self.inst).name)

    def test_short_name_matches_too(self):
        short = self.drv.get_disk_name('boot', self.inst, short=True)
        self._map(self.feed[0], LPAR_UUID,
                  pvm_stg.VDisk.bld_ref(self.adpt, short))
        self.assertEqual(short, self.drv.get_bootdisk_storage(self.inst).name)

    def test_no_bootdisk(self):
        self.assertIsNone(self.drv.get_bootdisk_storage(self.inst))

    def test_attach_disk_queues_on_own_vioses(self):
        ftsk = mock.Mock()
        wtasks = {u: mock.Mock() for u in ('vios-1', 'vios-3')}
        ftsk.wrapper_tasks = wtasks
        lu = pvm_stg.LUEnt.bld(self.adpt, self.boot, 1)
        lu._udid('27cc')
        self.drv.attach_disk(self.inst, lu, ftsk)
        wtasks['vios-3'].add_functor_subtask.assert_not_called()
        func = wtasks['vios-1'].add_functor_subtask.call_args[0][0]
        vwrap = self.feed[0]
        self.assertTrue(func(vwrap))
        smap = vwrap.scsi_mappings[0]
        # The mapping references the LU (element), to the instance's LPAR.
        self.assertIsInstance(smap.backing_storage, pvm_stg.LU)
        self.assertEqual('27cc', smap.backing_storage.udid)
        self.assertTrue(smap.client_lpar_href.endswith(LPAR_UUID))
        # Already mapped: no second mapping, no update.
        self.assertFalse(func(vwrap))
        self.assertEqual(1, len(vwrap.scsi_mappings))

    def test_attach_disk_no_active_vios(self):
        ftsk = mock.Mock(wrapper_tasks={'vios-3': mock.Mock()})
        self.assertRaises(exc.DiskMappingFailed, self.drv.attach_disk,
                          self.inst, self._lu(self.boot), ftsk)

    def test_detach_disk(self):
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        keep = self._map(self.feed[0], LPAR_UUID,
                         pvm_stg.VOptMedia.bld_ref(self.adpt, 'cfg'))
        self._map(self.feed[1], LPAR_UUID, self._lu(self.boot))
        removed = self.drv.detach_disk(self.inst)
        self.assertEqual([self.boot], [s.name for s in removed])
        self.assertEqual([keep], self.feed[0].scsi_mappings)
        self.assertEqual([], self.feed[1].scsi_mappings)
        self.feed[0].update.assert_called_once()
        self.feed[1].update.assert_called_once()
        self.feed[2].update.assert_not_called()

    def test_detach_disk_with_mgmt(self):
        # destroy during a snapshot: the management partition's mapping of
        # the boot disk goes in the same POST; its other mappings stay.
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[0], MGMT_UUID, self._lu(self.boot))
        other = self._map(self.feed[0], MGMT_UUID, self._lu('other', '27dd'))
        # The partition is gone from vios-2: only the snapshot's mapping.
        self._map(self.feed[1], MGMT_UUID, self._lu(self.boot))
        without = self.drv.detach_disk(self.inst)
        self.assertEqual(2, len(self.feed[0].scsi_mappings))
        self.assertEqual(1, len(self.feed[1].scsi_mappings))
        self.assertEqual([self.boot], [s.name for s in without])
        with mock.patch.object(disk_dvr.mgmt, 'mgmt_uuid',
                               return_value=MGMT_UUID) as mgmt_uuid:
            removed = self.drv.detach_disk(self.inst, with_mgmt=True)
        mgmt_uuid.assert_called_once_with(self.adpt)
        self.assertEqual([self.boot], [s.name for s in removed])
        self.assertEqual([other], self.feed[0].scsi_mappings)
        self.assertEqual([], self.feed[1].scsi_mappings)
        self.assertEqual(2, self.feed[0].update.call_count)
        self.feed[1].update.assert_called_once()

    def test_mappings_scanned_once_per_vios(self):
        # A VIOS's mappings grow with the host's partitions (500 on a full
        # host): attach and detach look through them once, not twice.
        for n in range(20):
            self._map(self.feed[0], 'other-%d' % n, self._lu('d%d' % n))
        lu = pvm_stg.LUEnt.bld(self.adpt, self.boot, 1)
        lu._udid('27cc')
        ftsk = mock.Mock(wrapper_tasks={'vios-1': mock.Mock()})
        self.drv.attach_disk(self.inst, lu, ftsk)
        func = ftsk.wrapper_tasks['vios-1'].add_functor_subtask.call_args[
            0][0]
        scan = mock.patch.object(tsk_map, 'find_maps',
                                 wraps=tsk_map.find_maps)
        with scan as find_maps:
            self.assertTrue(func(self.feed[0]))
        self.assertEqual(1, find_maps.call_count)
        with scan as find_maps:
            removed = self.drv.detach_disk(self.inst)
        self.assertEqual([self.boot], [s.name for s in removed])
        self.assertEqual(21 - 1, len(self.feed[0].scsi_mappings))
        # One scan per VIOS (2 of this driver's); POST only where removed.
        self.assertEqual(2, find_maps.call_count)
        self.feed[0].update.assert_called_once()
        self.feed[1].update.assert_not_called()

    def test_detach_disk_by_type(self):
        rescue = self.drv.get_disk_name('rescue', self.inst)
        boot_map = self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[0], LPAR_UUID, self._lu(rescue, '27bb'))
        removed = self.drv.detach_disk(self.inst, disk_types=('rescue',))
        self.assertEqual([rescue], [s.name for s in removed])
        # The boot disk stays mapped.
        self.assertEqual([boot_map], self.feed[0].scsi_mappings)
        self._map(self.feed[0], LPAR_UUID, self._lu(rescue, '27bb'))
        removed = self.drv.detach_disk(self.inst,
                                       disk_types=('boot', 'rescue'))
        self.assertEqual([self.boot, rescue], [s.name for s in removed])
        self.assertEqual([], self.feed[0].scsi_mappings)

    def test_find_disks(self):
        rescue = self.drv.get_disk_name('rescue', self.inst)
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[0], LPAR_UUID, self._lu(rescue, '27bb'))
        self._map(self.feed[1], LPAR_UUID, self._lu(rescue, '27bb'))
        found = self.drv.find_disks(self.inst, ('rescue',))
        self.assertEqual([rescue], [s.name for s in found])
        # Mapped nowhere: found by name.
        self.feed[0].scsi_mappings[:] = []
        self.feed[1].scsi_mappings[:] = []
        self.assertEqual(['unmapped-rescue'],
                         self.drv.find_disks(self.inst, ('rescue',)))

    def test_map_disks(self):
        lu = pvm_stg.LUEnt.bld(self.adpt, self.boot, 1)
        lu._udid('27cc')
        with mock.patch.object(disk_dvr.pvm_tx, 'FeedTask') as ftsk_cls:
            ftsk = ftsk_cls.return_value
            ftsk.wrapper_tasks = {'vios-1': mock.Mock()}
            self.drv.map_disks(self.inst, [lu])
        func = ftsk.wrapper_tasks['vios-1'].add_functor_subtask.call_args[
            0][0]
        vwrap = self.feed[0]
        self.assertTrue(func(vwrap))
        self.assertEqual('27cc', vwrap.scsi_mappings[0].backing_storage.udid)
        ftsk.execute.assert_called_once_with()
        ftsk_cls.reset_mock()
        self.drv.map_disks(self.inst, [])
        ftsk_cls.assert_not_called()

    def test_detach_disk_from_kept_vios(self):
        # What this process's last change of the VIOS returned (or a read
        # nothing changed) is kept: the next detach refreshes it (a
        # conditional GET: 304 when unchanged) instead of reading the feed.
        self.drv.vios_uuids = ['vios-1']
        vios = self.feed[0]
        self._map(vios, LPAR_UUID, self._lu(self.boot))
        self.drv.detach_disk(self.inst)
        self.assertEqual(1, self.mock_get.call_count)
        vios.refresh.assert_not_called()
        self._map(vios, LPAR_UUID, self._lu(self.boot))
        removed = self.drv.detach_disk(self.inst)
        self.assertEqual([self.boot], [s.name for s in removed])
        self.assertEqual(1, self.mock_get.call_count)
        vios.refresh.assert_called_once_with()
        self.assertEqual([], vios.scsi_mappings)
        self.assertEqual(2, vios.update.call_count)
        # Changed meanwhile: the refresh's new wrapper is the base.
        changed = self._vios('vios-1')
        self._map(changed, LPAR_UUID, self._lu(self.boot))
        vios.refresh.return_value = changed
        removed = self.drv.detach_disk(self.inst)
        self.assertEqual([self.boot], [s.name for s in removed])
        self.assertEqual([], changed.scsi_mappings)
        changed.update.assert_called_once()
        self.assertEqual(1, self.mock_get.call_count)

    def test_detach_disk_two_kept_vioses_one_feed_read(self):
        # A conditional GET per VIOS would cost more requests than the feed.
        answers = []
        for vwrap in self.feed[:2]:
            self._map(vwrap, LPAR_UUID, self._lu(self.boot))
            vwrap.update.return_value = self._vios(vwrap.uuid)
            answers.append(vwrap.update.return_value)
        self.drv.detach_disk(self.inst)
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self.assertEqual([self.boot], [
            s.name for s in self.drv.detach_disk(self.inst)])
        self.assertEqual(2, self.mock_get.call_count)
        for vwrap in answers:
            vwrap.refresh.assert_not_called()

    def test_detach_disk_nothing_mapped(self):
        self.assertEqual([], self.drv.detach_disk(self.inst))
        for vwrap in self.feed:
            vwrap.update.assert_not_called()

    def test_connect_to_mgmt(self):
        self._map(self.feed[1], LPAR_UUID, self._lu(self.boot))
        stg, vwrap, smap = self.drv.connect_instance_disk_to_mgmt(
            self.inst, MGMT_UUID)
        self.assertEqual(self.boot, stg.name)
        self.assertIs(self.feed[1], vwrap)
        self.feed[1].update.assert_called_once()
        self.assertTrue(smap.client_lpar_href.endswith(MGMT_UUID))
        self.assertEqual(self.boot, smap.backing_storage.name)
        self.assertEqual(2, len(self.feed[1].scsi_mappings))
        # The instance's mapping keeps its storage (not moved to the new).
        self.assertEqual([self.boot, self.boot], [
            m.backing_storage.name for m in self.feed[1].scsi_mappings])

    def test_connect_to_mgmt_tries_next_vios(self):
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[1], LPAR_UUID, self._lu(self.boot))
        self.feed[0].update.side_effect = test_vm.http_error(409)
        _stg, vwrap, _smap = self.drv.connect_instance_disk_to_mgmt(
            self.inst, MGMT_UUID)
        self.assertIs(self.feed[1], vwrap)
        # A refusal: VIOS 1 is not read again.
        self.mock_get.assert_called_once_with(self.adpt,
                                              xag=['ViosSCSIMapping'])

    def test_connect_to_mgmt_answer_lost(self):
        # VIOS 1 made the mapping but its answer was lost: re-read, used.
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[1], LPAR_UUID, self._lu(self.boot))
        self.feed[0].update.side_effect = pvm_exc.ConnectionError('dropped')
        reread = self._vios('vios-1')
        self._map(reread, LPAR_UUID, self._lu(self.boot))
        made = self._map(reread, MGMT_UUID, self._lu(self.boot))
        with mock.patch.object(pvm_private, 'read_again',
                               return_value=reread) as read_again:
            _stg, vwrap, smap = self.drv.connect_instance_disk_to_mgmt(
                self.inst, MGMT_UUID)
        self.assertIs(reread, vwrap)
        self.assertEqual(made.toxmlstring(), smap.toxmlstring())
        self.assertEqual('vios-1', read_again.call_args[0][0].entry_uuid)
        # Found, not made again.
        reread.update.assert_not_called()
        self.feed[1].update.assert_not_called()

    def test_connect_to_mgmt_answer_lost_not_made(self):
        self._map(self.feed[0], LPAR_UUID, self._lu(self.boot))
        self._map(self.feed[1], LPAR_UUID, self._lu(self.boot))
        self.feed[0].update.side_effect = pvm_exc.TimeoutError('timed out')
        # Read again: not made, so made now (its POST refused this time).
        reread = self._vios('vios-1')
        self._map(reread, LPAR_UUID, self._lu(self.boot))
        reread.update.side_effect = test_vm.http_error(409)
        with mock.patch.object(pvm_private, 'read_again',
                               return_value=reread):
            _stg, vwrap, _smap = self.drv.connect_instance_disk_to_mgmt(
                self.inst, MGMT_UUID)
        self.assertIs(self.feed[1], vwrap)
        reread.update.assert_called_once()

    def test_connect_to_mgmt_no_disk(self):
        e = self.assertRaises(exc.InstanceDiskMappingFailed,
                              self.drv.connect_instance_disk_to_mgmt,
                              self.inst, MGMT_UUID)
        self.assertIn('my-server', str(e))

    def test_disconnect_from_mgmt(self):
        vwrap = self.feed[0]
        self._map(vwrap, MGMT_UUID, self._lu(self.boot))
        other = self._map(vwrap, MGMT_UUID, self._lu('other'))
        inst_map = self._map(vwrap, LPAR_UUID, self._lu(self.boot))
        self.drv.disconnect_disk_from_mgmt(vwrap, self.boot, MGMT_UUID)
        self.assertEqual([other, inst_map], vwrap.scsi_mappings)
        vwrap.update.assert_called_once()
        # Idempotent: nothing left to remove, no update.
        self.drv.disconnect_disk_from_mgmt(vwrap, self.boot, MGMT_UUID)
        vwrap.update.assert_called_once()

    def test_disconnect_from_mgmt_by_uuid(self):
        vwrap = self.feed[1]
        self._map(vwrap, MGMT_UUID, self._lu(self.boot))
        with mock.patch.object(pvm_private, 'read_again',
                               return_value=vwrap) as read_again:
            self.drv.disconnect_disk_from_mgmt('vios-2', self.boot,
                                               MGMT_UUID)
        getter = read_again.call_args[0][0]
        self.assertEqual(('vios-2', ['ViosSCSIMapping']),
                         (getter.entry_uuid, getter.xag))
        self.assertEqual([], vwrap.scsi_mappings)
        vwrap.update.assert_called_once()

    def test_snapshot_mappings_from_kept_vios(self):
        # The VIOS this process kept (a conditional GET, 304 when nothing
        # changed); the mapping POST's answer is lent to the flow and the
        # unmap POST's answer kept for the next change (a destroy's).
        self.drv.vios_uuids = ['vios-1']
        vios = self.feed[0]
        self._map(vios, LPAR_UUID, self._lu(self.boot))
        answer = self._vios('vios-1')
        batch.give_back(self.adpt, batch.vios_key('vios-1', [
            'ViosSCSIMapping']), batch.stamp(vios, time.monotonic()))

        def posted(*args, **kwargs):
            answer.scsi_mappings[:] = vios.scsi_mappings
            return answer
        vios.update.side_effect = posted
        stg, vwrap, smap = self.drv.connect_instance_disk_to_mgmt(
            self.inst, MGMT_UUID)
        self.mock_get.assert_not_called()
        vios.refresh.assert_called_once_with()
        self.assertIs(answer, vwrap)
        self.assertEqual(self.boot, stg.name)
        self.assertTrue(smap.client_lpar_href.endswith(MGMT_UUID))
        self.drv.disconnect_disk_from_mgmt(vwrap, stg.name, MGMT_UUID)
        answer.update.assert_called_once()
        answer.refresh.assert_not_called()
        # (Which one went: test_disconnect_from_mgmt; a plain list removes
        # the first mapping equal to it, and these differ in an attribute.)
        self.assertEqual(1, len(answer.scsi_mappings))
        self.assertTrue(batch.kept(self.adpt, [batch.vios_key(
            'vios-1', ['ViosSCSIMapping'])]))

    @mock.patch('oslo_utils.importutils.import_object')
    def test_get_disk_driver(self, mock_imp):
        self.flags(disk_driver='SSP', group='powervm')
        self.assertIs(mock_imp.return_value,
                      disk_dvr.get_disk_driver(self.adpt, 'host'))
        mock_imp.assert_called_once_with(
            'nova_powervm.virt.powervm.disk.ssp.SSPDiskAdapter', self.adpt,
            'host')
