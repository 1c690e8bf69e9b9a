"""Unit tests: slot maps (slot_map.py) and rebuild decisions (driver_rebuild).

The store and the plan use pypowervm's real SlotMapStore/RebuildSlotMap;
wrappers are built with pypowervm's own builders (no REST).
"""
import json
import os
import stat
from unittest import mock

import fixtures
from nova.compute import task_states
from nova import exception as nova_exc
from nova import objects
from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import network as pvm_net
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios
from taskflow.patterns import linear_flow as tf_lf
import testtools

from nova_powervm.virt.powervm import driver_rebuild
from nova_powervm.virt.powervm import slot_map
from nova_powervm.virt.powervm.tasks import storage as tf_stg

UUID = '5e6f7a8b-0000-4000-8000-000000000001'
VSW = 'http://h/rest/api/uom/ManagedSystem/ms/VirtualSwitch/vsw'


def _inst(task_state=None, image_ref='img'):
    inst = objects.Instance(uuid=UUID, image_ref=image_ref, host='h',
                            task_state=task_state)
    return inst


def _cna(adapter, mac, slot, vswitch_id=0):
    cna = pvm_net.CNA.bld(adapter, 100, VSW, slot_num=slot, mac_addr=mac)
    cna.set_parm_value('VirtualSwitchID', vswitch_id)
    return cna


def _vscsi_map(adapter, vios_uuid, udid, slot, lua):
    lu = pvm_stg.LU.bld_ref(adapter, 'b_disk', udid)
    smap = pvm_vios.VSCSIMapping.bld(adapter, 'ms', UUID, lu,
                                     lpar_slot_num=slot, lua=lua)
    # What the server fills: the server adapter with its client slot.
    smap.server_adapter.set_parm_value('RemoteSlotNumber', slot)
    return smap


class TestStore(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.flags(group='powervm', slot_map_store='local')
        self.flags(group='powervm', slot_map_dir=os.path.join(self.dir,
                                                              'maps'))
        self.adapter = mock.Mock()

    def test_save_load_delete(self):
        store = slot_map.LocalSlotMapStore(UUID, load=False,
                                           vswitch_names={0: 'ETHERNET0'})
        store.register_vnet(_cna(self.adapter, 'FA163E000001', 4))
        store.boot_udids = ['01udid']
        store.save()
        path = slot_map.LocalSlotMapStore.path(UUID)
        self.assertEqual(0o600, stat.S_IMODE(os.stat(path).st_mode))
        # No temporary file left behind.
        self.assertEqual([UUID], os.listdir(os.path.dirname(path)))
        loaded = slot_map.LocalSlotMapStore(UUID)
        self.assertEqual({4: {'CNA': {'FA163E000001': 'ETHERNET0'}}},
                         loaded.topology)
        self.assertEqual(['01udid'], loaded.boot_udids)
        # The vswitch names came from the caller: no REST read.
        self.adapter.read.assert_not_called()
        slot_map.forget(_inst(task_states.DELETING))
        self.assertFalse(os.path.exists(path))
        self.assertEqual({}, slot_map.LocalSlotMapStore(UUID).topology)
        # Forgetting twice is fine.
        slot_map.forget(_inst(task_states.DELETING))

    def test_store_none_writes_nothing(self):
        self.flags(group='powervm', slot_map_store='none')
        slot_map.record(self.adapter, _inst(), lambda s: True, dict,
                        cnas=[_cna(self.adapter, 'FA163E000001', 4)])
        self.adapter.read.assert_not_called()
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'maps')))
        with slot_map.rebuilding(self.adapter, _inst(
                task_states.REBUILD_SPAWNING)) as plan:
            self.assertIsNone(plan)

    def test_record_failure_is_logged_not_raised(self):
        # The directory cannot be made: a file is in the way.
        blocker = os.path.join(self.dir, 'file')
        open(blocker, 'w').close()
        self.flags(group='powervm', slot_map_dir=os.path.join(blocker, 'x'))
        with mock.patch.object(slot_map.LOG, 'warning') as warn:
            slot_map.record(self.adapter, _inst(), lambda s: True,
                            {0: 'ETHERNET0'},
                            cnas=[_cna(self.adapter, 'FA163E000001', 4)])
        warn.assert_called_once()
        self.adapter.read.assert_not_called()

    def test_record_without_wrappers_does_nothing(self):
        # Nothing changed (NPIV, no saved map): nothing read or written.
        slot_map.record(self.adapter, _inst(), lambda s: True, dict)
        self.adapter.read.assert_not_called()
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'maps')))

    def _save(self, owner):
        slot_map.record(self.adapter, _inst(), lambda s: False,
                        {0: 'ETHERNET0'},
                        cnas=[_cna(self.adapter, 'FA163E000001', 4)],
                        owner=owner)
        return slot_map.LocalSlotMapStore.path(UUID)

    def test_left_deletes_only_the_map_this_host_saved(self):
        path = self._save('ms-target')
        self.assertEqual('ms-target', slot_map.LocalSlotMapStore(UUID).owner)
        # A shared slot_map_dir: the map is the target's, it stays.
        slot_map.left(_inst(), 'ms-source')
        self.assertTrue(os.path.exists(path))
        slot_map.left(_inst(), 'ms-target')
        self.assertFalse(os.path.exists(path))
        # No map: nothing to do.
        slot_map.left(_inst(), 'ms-target')

    def test_live_migration_target_adopts_a_shared_map(self):
        path = self._save('ms-source')
        topo = slot_map.LocalSlotMapStore(UUID).topology
        slot_map.adopt(_inst(), 'ms-target')
        saved = slot_map.LocalSlotMapStore(UUID)
        self.assertEqual(('ms-target', topo), (saved.owner, saved.topology))
        # The source's cleanup keeps it (the instance's map now).
        slot_map.left(_inst(), 'ms-source')
        self.assertTrue(os.path.exists(path))
        # A target that sees no map (its own directory) writes none.
        os.unlink(path)
        slot_map.adopt(_inst(), 'ms-target')
        self.assertFalse(os.path.exists(path))

    def test_save_as_rewrites_the_owner_only(self):
        path = self._save('ms-source')
        with open(path) as f:
            before = json.load(f)
        store = slot_map.LocalSlotMapStore(UUID)
        store.boot_udids = ['01udid']
        store.save_as('ms-target')
        with open(path) as f:
            after = json.load(f)
        self.assertEqual(dict(before, host='ms-target', boot=['01udid']),
                         after)
        self.assertEqual([UUID], os.listdir(os.path.dirname(path)))

    def test_saved_by(self):
        self.assertFalse(slot_map.saved_by(_inst(), 'ms-source'))
        path = self._save('ms-source')
        self.assertTrue(slot_map.saved_by(_inst(), 'ms-source'))
        self.assertFalse(slot_map.saved_by(_inst(), 'ms-target'))
        # Saved before owners were recorded: anyone's.
        self._save(None)
        self.assertTrue(slot_map.saved_by(_inst(), 'ms-target'))
        with open(path, 'w') as f:
            f.write('{not json')
        with mock.patch.object(slot_map.LOG, 'warning') as warn:
            self.assertFalse(slot_map.saved_by(_inst(), 'ms-source'))
        warn.assert_called_once()

    def test_left_deletes_a_map_saved_without_owner(self):
        # Maps saved before owners were recorded are this host's.
        path = self._save(None)
        with open(path) as f:
            self.assertIsNone(json.load(f)['host'])
        slot_map.left(_inst(), 'ms-source')
        self.assertFalse(os.path.exists(path))

    def test_left_with_store_none_touches_nothing(self):
        path = self._save('ms')
        self.flags(group='powervm', slot_map_store='none')
        slot_map.left(_inst(), 'ms')
        self.assertTrue(os.path.exists(path))

    def _vios(self, *smaps):
        return mock.Mock(scsi_mappings=list(smaps))

    def test_record_from_the_operations_wrappers(self):
        self.adapter.build_href.return_value = (
            'http://h/rest/api/uom/LogicalPartition/' + UUID.upper())
        names = {0: 'ETHERNET0'}
        boot = _vscsi_map(self.adapter, 'v1', '01boot', 5, '0x81')
        vol = _vscsi_map(self.adapter, 'v1', '01vol', 5, '0x82')
        slot_map.record(self.adapter, _inst(),
                        lambda stg: stg.udid == '01boot', names,
                        cnas=[_cna(self.adapter, 'FA163E000001', 4)],
                        vioses=[self._vios(boot, vol)])
        saved = slot_map.LocalSlotMapStore(UUID)
        self.assertEqual({4: {'CNA': {'FA163E000001': 'ETHERNET0'}},
                          5: {'LU': {'01boot': '0x81', '01vol': '0x82'}}},
                         saved.topology)
        self.assertEqual(['01boot'], saved.boot_udids)
        # An interface change: the adapters replaced, the disks kept.
        slot_map.record(self.adapter, _inst(), lambda stg: False, names,
                        cnas=[_cna(self.adapter, 'FA163E000002', 6)])
        saved = slot_map.LocalSlotMapStore(UUID)
        self.assertEqual({5: {'LU': {'01boot': '0x81', '01vol': '0x82'}},
                          6: {'CNA': {'FA163E000002': 'ETHERNET0'}}},
                         saved.topology)
        self.assertEqual(['01boot'], saved.boot_udids)
        # A volume change: the disks replaced, the adapters kept.
        slot_map.record(self.adapter, _inst(), lambda stg: False, names,
                        vioses=[self._vios(boot)])
        saved = slot_map.LocalSlotMapStore(UUID)
        self.assertEqual({5: {'LU': {'01boot': '0x81'}},
                          6: {'CNA': {'FA163E000002': 'ETHERNET0'}}},
                         saved.topology)
        # Nothing changed (NPIV): the map stays.
        slot_map.record(self.adapter, _inst(), lambda stg: False, names)
        self.assertEqual(saved.topology,
                         slot_map.LocalSlotMapStore(UUID).topology)
        # Every map came from the wrappers given: no request.
        self.adapter.read.assert_not_called()


class TestPlan(test.NoDBTestCase):
    """A saved map applied while a partition is rebuilt."""

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', slot_map_store='local')
        self.flags(group='powervm', slot_map_dir=self.useFixture(
            fixtures.TempDir()).path)
        self.adapter = mock.Mock()
        self.adapter.build_href.return_value = (
            'http://h/rest/api/uom/LogicalPartition/' + UUID)
        store = slot_map.LocalSlotMapStore(
            UUID, load=False, vswitch_names={0: 'ETHERNET0',
                                             1: 'MGMTSWITCH'})
        store.register_vnet(_cna(self.adapter, 'FA163E000002', 4))
        store.register_vnet(_cna(self.adapter, 'AABBCCDDEEFF', 9,
                                 vswitch_id=1))
        store.register_vscsi_mapping(_vscsi_map(
            self.adapter, 'v1', '01old', 5, '0x8100000000000000'))
        store.register_vscsi_mapping(_vscsi_map(
            self.adapter, 'v2', '01old', 6, '0x8100000000000000'))
        store.register_vscsi_mapping(_vscsi_map(
            self.adapter, 'v1', '01vol', 5, '0x8200000000000000'))
        store.boot_udids = ['01old']
        store.save()
        self.topology = store.topology
        self.vioses = [mock.Mock(uuid='V1'), mock.Mock(uuid='V2')]
        self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.partition.get_active_vioses',
            return_value=self.vioses))

    def test_no_plan_outside_a_rebuild(self):
        with slot_map.rebuilding(self.adapter,
                                 _inst(task_states.SPAWNING)) as plan:
            self.assertIsNone(plan)
            cna = _cna(self.adapter, 'FA163E000002', None)
            self.assertIs(cna, slot_map.place_cna(_inst(), cna))
            self.assertEqual((None, None), slot_map.vscsi_slot(
                _inst(), self.vioses[0], '01old'))

    def test_rebuild_requests_saved_slots(self):
        inst = _inst(task_states.REBUILD_SPAWNING)
        with slot_map.rebuilding(self.adapter, inst,
                                 boot_vioses=['V1', 'V2']) as plan:
            self.assertIsNotNone(plan)
            built = pvm_net.CNA.bld(self.adapter, 100, VSW,
                                    mac_addr='fa:16:3e:00:00:02')
            placed = slot_map.place_cna(inst, built)
            self.assertEqual(4, placed.slot)
            self.assertEqual('FA163E000002', placed.mac)
            self.assertEqual(100, placed.pvid)
            self.assertEqual(VSW, placed.vswitch_uri)
            # The RMC adapter (built without a MAC): its slot and MAC.
            mgmt = slot_map.place_cna(inst, pvm_net.CNA.bld(
                self.adapter, 4094, VSW))
            self.assertEqual((9, 'AABBCCDDEEFF'), (mgmt.slot, mgmt.mac))
            # An unknown MAC: next free slot.
            other = pvm_net.CNA.bld(self.adapter, 100, VSW,
                                    mac_addr='FA163E0000AA')
            self.assertIs(other, slot_map.place_cna(inst, other))
            # Same disk (evacuation): each VIOS one of the saved slots.
            got = {slot_map.vscsi_slot(inst, v, '01old') for v in
                   self.vioses}
            self.assertEqual({(5, '0x8100000000000000'),
                              (6, '0x8100000000000000')}, got)
            # A new boot disk (same-host rebuild) goes where the old was.
            self.assertEqual(got, {slot_map.vscsi_slot(
                inst, v, '01new', boot=True) for v in self.vioses})
            # Not the boot disk: no slot for an unknown UDID.
            self.assertEqual((None, None), slot_map.vscsi_slot(
                inst, self.vioses[0], '01new'))
            # The volume shares its bus with the boot disk's slot 5.
            vol = [slot_map.vscsi_slot(inst, v, '01vol') for v in
                   self.vioses]
            self.assertIn((5, '0x8200000000000000'), vol)
        # Done: the plan is dropped.
        self.assertIs(built, slot_map.place_cna(inst, built))

    def test_boot_vios_without_a_saved_slot_gets_one_above_the_map(self):
        # A map saved with one path of the boot disk, two VIOSes now: the
        # VIOS the plan leaves out must not take the next free slot (the
        # other VIOS's planned slot 5 if its mapping is posted first: 409).
        store = slot_map.LocalSlotMapStore(
            UUID, load=False, vswitch_names={0: 'ETHERNET0'})
        store.register_vnet(_cna(self.adapter, 'FA163E000002', 3))
        store.register_vscsi_mapping(_vscsi_map(
            self.adapter, 'v1', '01old', 5, '0x8100000000000000'))
        store.boot_udids = ['01old']
        store.save()
        inst = _inst(task_states.REBUILD_SPAWNING)
        with slot_map.rebuilding(self.adapter, inst,
                                 boot_vioses=['V1', 'V2']):
            got = sorted(slot_map.vscsi_slot(inst, v, '01new', boot=True)[0]
                         for v in self.vioses)
            self.assertEqual([5, 6], got)
            # Asked again (a retry): the same slot.
            self.assertEqual(got, sorted(slot_map.vscsi_slot(
                inst, v, '01new', boot=True)[0] for v in self.vioses))
            # Not the boot disk: still the next free slot.
            self.assertEqual((None, None), slot_map.vscsi_slot(
                inst, self.vioses[0], '01vol'))

    def test_failed_spawn_keeps_the_map(self):
        inst = _inst(task_states.REBUILD_SPAWNING)
        with testtools.ExpectedException(ValueError):
            with slot_map.rebuilding(self.adapter, inst):
                raise ValueError()
        self.assertNotIn(UUID, slot_map._PLANS)
        self.assertEqual(self.topology,
                         slot_map.LocalSlotMapStore(UUID).topology)

    def test_map_the_host_cannot_apply_is_not_used(self):
        self.vioses[:] = []
        inst = _inst(task_states.REBUILD_SPAWNING)
        with slot_map.rebuilding(self.adapter, inst,
                                 boot_vioses=['V1']) as plan:
            self.assertIsNone(plan)


class TestDriverRebuild(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = mock.Mock()
        self.drv.disk_dvr.capabilities = {'shared_storage': True}
        self.drv.disk_dvr.cluster_uuid = 'c1'

    def test_instance_on_disk(self):
        self.drv.disk_dvr.boot_disks.return_value = ['lu']
        self.assertTrue(driver_rebuild.instance_on_disk(self.drv, _inst()))
        self.drv.disk_dvr.boot_disks.return_value = []
        self.assertFalse(driver_rebuild.instance_on_disk(self.drv, _inst()))
        # Boot from volume: the volume is on the SAN.
        self.assertTrue(driver_rebuild.instance_on_disk(
            self.drv, _inst(image_ref='')))
        self.drv.disk_dvr.capabilities = {'shared_storage': False}
        self.drv.disk_dvr.boot_disks.reset_mock()
        self.assertFalse(driver_rebuild.instance_on_disk(self.drv, _inst()))
        self.drv.disk_dvr.boot_disks.assert_not_called()

    def _boot_tasks(self, inst):
        flow = tf_lf.Flow('f')
        driver_rebuild.add_boot_disk(self.drv, flow, None, inst, None,
                                     'ftsk')
        return [type(t) for t in flow]

    def test_evacuation_reattaches_the_lu(self):
        self.drv.disk_dvr.boot_disks.return_value = ['lu']
        self.assertEqual(
            [tf_stg.FindBootDisk, tf_stg.AttachDisk],
            self._boot_tasks(_inst(task_states.REBUILD_SPAWNING)))
        # A first spawn creates the disk (its LU is not looked up).
        self.drv.disk_dvr.boot_disks.reset_mock()
        self.assertEqual([tf_stg.CreateDiskForImg, tf_stg.AttachDisk],
                         self._boot_tasks(_inst(task_states.SPAWNING)))
        self.drv.disk_dvr.boot_disks.assert_not_called()
        # Same-host rebuild: destroy deleted the LU; a new one.
        self.drv.disk_dvr.boot_disks.return_value = []
        self.assertEqual(
            [tf_stg.CreateDiskForImg, tf_stg.AttachDisk],
            self._boot_tasks(_inst(task_states.REBUILD_SPAWNING)))

    def test_find_boot_disk_missing(self):
        self.drv.disk_dvr.boot_disks.return_value = []
        self.drv.disk_dvr.get_disk_name.return_value = 'b_disk'
        task = tf_stg.FindBootDisk(self.drv.disk_dvr, _inst())
        self.assertRaises(nova_exc.DiskNotFound, task.execute)
        self.drv.disk_dvr.boot_disks.return_value = ['lu', 'x']
        self.assertEqual('lu', task.execute())

    def test_destroyed_forgets_deleted_and_offloaded_instances(self):
        forget = self.useFixture(fixtures.MockPatchObject(
            slot_map, 'forget')).mock
        left = self.useFixture(fixtures.MockPatchObject(
            slot_map, 'left')).mock
        self.drv.host_uuid = 'ms-uuid'
        # Same-host rebuild, evacuated source (None), failed spawn.
        for state in (task_states.REBUILDING, None, task_states.SPAWNING):
            driver_rebuild.destroyed(self.drv, _inst(state))
        forget.assert_not_called()
        left.assert_not_called()
        driver_rebuild.destroyed(self.drv, _inst(task_states.DELETING))
        inst = _inst()
        inst.deleted = True
        driver_rebuild.destroyed(self.drv, inst)
        # Shelve offload: unshelve spawns anew and deleting the offloaded
        # instance never reaches this host.
        driver_rebuild.destroyed(self.drv,
                                 _inst(task_states.SHELVING_OFFLOADING))
        self.assertEqual(3, forget.call_count)
        left.assert_not_called()
        # A reverted migration's target: the map it saved (not another
        # host's) goes.
        inst = _inst(task_states.RESIZE_REVERTING)
        driver_rebuild.destroyed(self.drv, inst)
        left.assert_called_once_with(inst, 'ms-uuid')
        self.assertEqual(3, forget.call_count)

    def test_left_host_names_this_managed_system(self):
        left = self.useFixture(fixtures.MockPatchObject(
            slot_map, 'left')).mock
        self.drv.host_uuid = 'ms-uuid'
        inst = _inst()
        driver_rebuild.left_host(self.drv, inst)
        left.assert_called_once_with(inst, 'ms-uuid')

    def _returned(self, saved_by, vioses=None):
        self.flags(group='powervm', slot_map_store='local')
        self.drv.host_uuid = 'ms-uuid'
        inst = _inst()
        with mock.patch.object(slot_map, 'saved_by',
                               return_value=saved_by) as mine, \
                mock.patch.object(driver_rebuild.vif, 'get_cnas') as cnas, \
                mock.patch.object(driver_rebuild.pvm_par,
                                  'get_active_vioses') as read, \
                mock.patch.object(slot_map, 'record') as rec:
            driver_rebuild.returned(self.drv, inst, vioses)
        mine.assert_called_once_with(inst, 'ms-uuid')
        return inst, cnas, read, rec

    def test_returned_with_its_own_map_reads_nothing(self):
        _inst_, cnas, read, rec = self._returned(True)
        cnas.assert_not_called()
        read.assert_not_called()
        rec.assert_not_called()

    def test_returned_saves_the_map_again_from_the_partition(self):
        inst, cnas, read, rec = self._returned(False)
        cnas.assert_called_once_with(self.drv.adapter, inst)
        read.assert_called_once_with(self.drv.adapter,
                                     xag=['ViosSCSIMapping'])
        self.assertEqual((cnas.return_value, read.return_value, 'ms-uuid'),
                         (rec.call_args.kwargs['cnas'],
                          rec.call_args.kwargs['vioses'],
                          rec.call_args.kwargs['owner']))

    def test_returned_uses_the_vioses_it_holds(self):
        _inst_, cnas, read, rec = self._returned(False, vioses=['v1'])
        read.assert_not_called()
        self.assertEqual(['v1'], rec.call_args.kwargs['vioses'])

    def test_returned_read_failure_is_logged_not_raised(self):
        self.flags(group='powervm', slot_map_store='local')
        with mock.patch.object(slot_map, 'saved_by', return_value=False), \
                mock.patch.object(driver_rebuild.vif, 'get_cnas',
                                  side_effect=pvm_exc.Error('down')), \
                mock.patch.object(slot_map, 'record') as rec, \
                mock.patch.object(driver_rebuild.LOG, 'warning') as warn:
            driver_rebuild.returned(self.drv, _inst())
        rec.assert_not_called()
        warn.assert_called_once()

    def test_returned_with_store_none_does_nothing(self):
        self.flags(group='powervm', slot_map_store='none')
        with mock.patch.object(slot_map, 'saved_by') as mine:
            driver_rebuild.returned(self.drv, _inst())
        mine.assert_not_called()

    def test_record_saves_the_owner(self):
        rec = self.useFixture(fixtures.MockPatchObject(
            slot_map, 'record')).mock
        self.flags(group='powervm', slot_map_store='local')
        self.drv.host_uuid = 'ms-uuid'
        driver_rebuild.record(self.drv, _inst(), vioses=[])
        self.assertEqual('ms-uuid', rec.call_args.kwargs['owner'])
