"""Simulator storage through pypowervm: VGs, uploads, vopt, vSCSI mappings."""
import io
import os

from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.tasks import vopt as tsk_vopt
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.simulator import base

SMAP = [pvm_const.XAG.VIO_SMAP]


def pattern(size):
    return bytes((i * 7) % 251 for i in range(size))


def read_disk(path, head):
    """(first ``head`` bytes, size, whether only zeros follow) of a disk.

    The zero check reads up to the next 64 KiB boundary and then asks the
    file system for data beyond it (the rest must be a hole), so a 5 GB
    sparse disk is checked without reading 5 GB.
    """
    with open(path, 'rb') as f:
        data = f.read(head)
        size = os.fstat(f.fileno()).st_size
        edge = min(size, -(-head // 65536) * 65536)
        zeros = f.read(edge - head).strip(b'\0') == b''
        if edge < size:
            try:
                os.lseek(f.fileno(), edge, os.SEEK_DATA)
                zeros = False
            except OSError:   # ENXIO: only a hole after edge
                pass
    return data, size, zeros


class StorageTestCase(base.SimTestCase):

    def setUp(self):
        super(StorageTestCase, self).setUp()
        self.vios_uuid = self.sim.vios_uuids[0]
        self.vios_w, self.vg = tsk_stg.find_vg(self.adpt, 'datavg')

    def vdisks(self):
        vg = pvm_stg.VG.get(self.adpt, uuid=self.vg.uuid,
                            parent_type=pvm_vios.VIOS,
                            parent_uuid=self.vios_uuid)
        return vg, {vd.name: vd for vd in vg.virtual_disks}

    def lpar(self, name='stg-lpar'):
        from pypowervm.wrappers import base_partition as bp
        lpar = pvm_lpar.LPAR.bld(
            self.adpt, name, bp.PartitionMemoryConfiguration.bld(
                self.adpt, 1024),
            bp.PartitionProcessorConfiguration.bld_shared(self.adpt, 0.5, 1))
        return lpar.create(parent=self.host())

    def vios(self):
        return pvm_vios.VIOS.get(self.adpt, uuid=self.vios_uuid, xag=SMAP)


class TestVolumeGroups(StorageTestCase):

    def test_seeded_groups(self):
        names = {}
        for vios_w in pvm_vios.VIOS.get(self.adpt):
            names[vios_w.name] = sorted(
                vg.name for vg in pvm_stg.VG.get(self.adpt, parent=vios_w))
        self.assertEqual({'vios1': ['QCOW VG - default', 'datavg', 'rootvg'],
                          'vios2': ['rootvg']}, names)
        self.assertEqual(1000, self.vg.capacity)
        self.assertEqual(1000, self.vg.available_size)
        vios_uuid, vg_uuid = tsk_vopt.validate_vopt_repo_exists(self.adpt)
        self.assertEqual(self.vios_uuid, vios_uuid)
        self.assertEqual('rootvg', pvm_stg.VG.get(
            self.adpt, uuid=vg_uuid, parent_type=pvm_vios.VIOS,
            parent_uuid=vios_uuid).name)

    def test_crt_copy_grow_delete(self):
        vd = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'disk1', 5)
        self.assertTrue(vd.udid.startswith('0300'))
        self.assertEqual('LogicalVolume', vd.vdtype)
        # Server-side copy (BaseImage): shares the source's content.
        copy = tsk_stg.crt_copy_vdisk(self.adpt, self.vios_uuid,
                                      self.vg.uuid, vd.udid, 6 << 30,
                                      'disk2')
        self.assertEqual(6, copy.capacity)
        vg, disks = self.vdisks()
        self.assertEqual(1000 - 11, vg.available_size)
        # Grow.
        disks['disk2'].capacity = 8
        vg = vg.update()
        self.assertEqual(8, {d.name: d for d in vg.virtual_disks}[
            'disk2'].capacity)
        # Shrink refused, state intact.
        disks = {d.name: d for d in vg.virtual_disks}
        disks['disk2'].capacity = 2
        self.assertRaises(pvm_exc.HttpError, vg.update)
        vg, disks = self.vdisks()
        self.assertEqual(8, disks['disk2'].capacity)
        # Delete.
        tsk_stg.rm_vg_storage(vg, vdisks=[disks['disk1'], disks['disk2']])
        vg, disks = self.vdisks()
        self.assertEqual({}, disks)
        self.assertEqual(1000, vg.available_size)

    def test_rescan(self):
        vd = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'r1', 1)
        tsk_stg.rescan_vstor(self.vios_uuid, vd.udid, adapter=self.adpt)
        self.assertRaises(pvm_exc.JobRequestFailed, tsk_stg.rescan_vstor,
                          self.vios_uuid, '0300nope.1', adapter=self.adpt)

    def test_bad_vdisks_rejected(self):
        before = self.sim.inventory()
        for args in (('x' * 16, 1), ('ok', 0), ('huge', 5000)):
            self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_vdisk,
                              self.adpt, self.vios_uuid, self.vg.uuid, *args)
        self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_vdisk, self.adpt,
                          self.vios_uuid, self.vg.uuid, 'cp', 1,
                          base_image='0300deadbeef.99')
        self.assertEqual(before, self.sim.inventory())

    def test_malformed_vg_update(self):
        before = self.sim.inventory()
        path = '/rest/api/uom/VirtualIOServer/%s/VolumeGroup/%s' % (
            self.vios_uuid, self.vg.uuid)
        for body in ('<VolumeGroup', '<Nope xmlns="%s"/>' % (
                pvm_const.UOM_NS,)):
            self.assertRaises(pvm_exc.HttpError, self.adpt._request, 'POST',
                              path, body=body)
        self.assertEqual(before, self.sim.inventory())


class TestUploads(StorageTestCase):

    def test_upload_vdisk_content(self):
        data = pattern(300000)
        vd, leftover = tsk_stg.upload_new_vdisk(
            self.adpt, self.vios_uuid, self.vg.uuid, io.BytesIO(data),
            'img1', len(data))
        self.assertIsNone(leftover)
        self.assertEqual(1, vd.capacity)
        # The whole 1 GB disk reads back: the upload, then zeros.
        self.assertEqual((data, 1 << 30, True),
                         read_disk(self.sim.disk_path(name='img1'), len(data)))
        self.assertEqual(self.sim.disk_path(name='img1'),
                         self.sim.disk_path(name=vd.udid))
        # The admin API's generic call passes a control's own 'name' along.
        self.assertEqual(self.sim.disk_path(name='img1'),
                         self.sim.call('disk_path', name='img1'))
        # The File metadata was deleted by pypowervm.
        self.assertEqual({}, self.sim.inventory()['files'])
        # A copy reads back the same bytes.
        copy = tsk_stg.crt_copy_vdisk(self.adpt, self.vios_uuid,
                                      self.vg.uuid, vd.udid, len(data),
                                      'img1copy')
        self.assertEqual((data, 1 << 30, True),
                         read_disk(self.sim.disk_path(name=copy.name),
                                   len(data)))
        # Deleting both removes the stored data.
        vg, disks = self.vdisks()
        tsk_stg.rm_vg_storage(vg, vdisks=list(disks.values()))
        self.assertEqual(0, self.sim.inventory()['disk_data_files'])

    def test_whole_disks(self):
        """A disk reads its whole virtual size; copies are their own."""
        tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid, 'blank',
                          2)
        self.assertEqual((b'', 2 << 30, True),
                         read_disk(self.sim.disk_path(name='blank'), 0))
        data = pattern(70000)
        vd, _f = tsk_stg.upload_new_vdisk(
            self.adpt, self.vios_uuid, self.vg.uuid, io.BytesIO(data),
            'img3', len(data))
        big = tsk_stg.crt_copy_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                                     vd.udid, len(data), 'img3big',
                                     d_size=3 << 30)
        self.assertEqual((data, 3 << 30, True), read_disk(
            self.sim.disk_path(name=big.name), len(data)))
        # Reading the larger copy did not grow its source.
        self.assertEqual((data, 1 << 30, True), read_disk(
            self.sim.disk_path(name='img3'), len(data)))
        self.assertNotEqual(self.sim.disk_path(name='img3'),
                            self.sim.disk_path(name=big.name))
        vg, disks = self.vdisks()
        tsk_stg.rm_vg_storage(vg, vdisks=list(disks.values()))
        self.assertEqual(0, self.sim.inventory()['disk_data_files'])

    def test_failed_upload_keeps_nothing(self):
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path='/File/contents/',
                              status=500)
        self.assertRaises(pvm_exc.HttpError, tsk_stg.upload_new_vdisk,
                          self.adpt, self.vios_uuid, self.vg.uuid,
                          io.BytesIO(b'abc'), 'img2', 3)
        self.assertEqual(before, self.sim.inventory())

    def test_short_upload_rejected(self):
        before = self.sim.inventory()
        self.assertRaises(pvm_exc.HttpError, tsk_stg.upload_vopt, self.adpt,
                          self.vios_uuid, io.BytesIO(b'short'), 'iso1',
                          f_size=100)
        self.assertEqual(before, self.sim.inventory())

    def test_bad_file_rejected(self):
        from pypowervm.wrappers import vios_file as vf
        before = self.sim.inventory()
        for kwargs in ({'v_uuid': self.vios_uuid, 'tdev_udid': 'nope'},
                       {'v_uuid': 'not-a-vios', 'tdev_udid': None}):
            f = vf.File.bld(self.adpt, 'f', vf.FileType.DISK_IMAGE,
                            kwargs['v_uuid'], tdev_udid=kwargs['tdev_udid'])
            self.assertRaises(pvm_exc.HttpError, f.create)
        self.assertEqual(before, self.sim.inventory())

    def test_vopt_upload_map_unmap_delete(self):
        before = self.sim.inventory()
        lpar = self.lpar()
        data = pattern(5000)
        ref, _f = tsk_stg.upload_vopt(self.adpt, self.vios_uuid,
                                      io.BytesIO(data), 'cfg_1', len(data))
        with open(self.sim.disk_path(name='cfg_1'), 'rb') as f:
            self.assertEqual(data, f.read())
        vios_w = self.vios()
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, ref))
        vios_w = vios_w.update()
        maps = tsk_map.find_maps(vios_w.scsi_mappings,
                                 client_lpar_id=lpar.uuid, stg_elem=ref)
        self.assertEqual(1, len(maps))
        self.assertEqual('0ecfg_1', maps[0].backing_storage.udid)
        self.assertEqual('vtopt0', maps[0].target_dev.name)
        # Mapped media cannot be deleted.
        vg_uuid = tsk_vopt.validate_vopt_repo_exists(self.adpt)[1]
        vg = pvm_stg.VG.get(self.adpt, uuid=vg_uuid,
                            parent_type=pvm_vios.VIOS,
                            parent_uuid=self.vios_uuid)
        media = [m for m in vg.vmedia_repos[0].optical_media
                 if m.name == 'cfg_1']
        self.assertRaises(pvm_exc.HttpError, tsk_stg.rm_vg_storage, vg,
                          vopts=media)
        tsk_map.remove_vopt_mapping(self.adpt, self.vios_uuid, lpar.id,
                                    media_name='cfg_1')
        vg = pvm_stg.VG.get(self.adpt, uuid=vg_uuid,
                            parent_type=pvm_vios.VIOS,
                            parent_uuid=self.vios_uuid)
        tsk_stg.rm_vg_storage(vg, vopts=[
            m for m in vg.vmedia_repos[0].optical_media
            if m.name == 'cfg_1'])
        lpar.delete()
        self.assertEqual(before, self.sim.inventory())


class TestScsiMappings(StorageTestCase):

    def test_map_fill_reuse_remove(self):
        lpar = self.lpar()
        d1 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd1', 1)
        d2 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd2', 1)
        vios_w = self.vios()
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, d1))
        vios_w = vios_w.update()
        m1 = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid,
                               stg_elem=d1)[0]
        self.assertEqual(lpar.id, m1.server_adapter.lpar_id)
        self.assertEqual(vios_w.id, m1.client_adapter.vios_id)
        self.assertEqual(m1.server_adapter.vios_slot_num,
                         m1.client_adapter.vios_slot_num)
        self.assertEqual(d1.udid, m1.backing_storage.udid)
        self.assertEqual('0x8100000000000000', m1.target_dev.lua)
        # A second disk reuses the adapter pair (same bus, next LUA).
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, d2))
        vios_w = vios_w.update()
        m2 = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid,
                               stg_elem=d2)[0]
        self.assertEqual(m1.server_adapter.udid, m2.server_adapter.udid)
        self.assertEqual(m1.client_adapter.lpar_slot_num,
                         m2.client_adapter.lpar_slot_num)
        self.assertEqual('0x8200000000000000', m2.target_dev.lua)
        # A mapped disk cannot be deleted.
        vg, disks = self.vdisks()
        self.assertRaises(pvm_exc.HttpError, tsk_stg.rm_vg_storage, vg,
                          vdisks=[disks['d1']])
        # Remove one mapping.
        tsk_map.remove_maps(vios_w, lpar.uuid,
                            match_func=lambda s: s.name == 'd1')
        vios_w = vios_w.update()
        self.assertEqual(['d2'], [m.backing_storage.name for m in
                                  tsk_map.find_maps(vios_w.scsi_mappings,
                                                    lpar.uuid)])

    def test_stale_etag_412(self):
        lpar = self.lpar()
        d1 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd1', 1)
        stale = self.vios()
        fresh = self.vios()
        tsk_map.add_map(fresh, tsk_map.build_vscsi_mapping(
            None, fresh, lpar.uuid, d1))
        fresh.update()
        tsk_map.add_map(stale, tsk_map.build_vscsi_mapping(
            None, stale, lpar.uuid, d1))
        ex = self.assertRaises(pvm_exc.HttpError, stale.update)
        self.assertEqual(412, ex.response.status)

    def test_bad_mappings_rejected(self):
        lpar = self.lpar()
        before = self.sim.inventory()
        vios_w = self.vios()
        ghost = pvm_stg.VDisk.bld_ref(self.adpt, 'ghost')
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, ghost))
        self.assertRaises(pvm_exc.HttpError, vios_w.update)
        d1 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd1', 1)
        before = self.sim.inventory()
        vios_w = self.vios()
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, '1234ABCD-0000-4000-8000-000000000000', d1))
        self.assertRaises(pvm_exc.HttpError, vios_w.update)
        self.assertEqual(before, self.sim.inventory())

    def test_storage_dropped_or_swapped_is_applied(self):
        """A stored mapping posted without its storage, or with another,
        is changed as posted (NovaLink: pypowervm's detach_storage and
        _modify_storage_elem rely on it), not kept as stored.
        """
        lpar = self.lpar()
        mgmt = self.sim.mgmt_uuid
        disks = [tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                                   name, 1) for name in ('d1', 'd2', 'd3')]
        vios_w = self.vios()
        for d in disks[:2]:
            tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
                None, vios_w, lpar.uuid, d))
        vios_w = vios_w.update()
        m1, m2 = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)
        bus1, bus2 = m1.server_adapter.udid, m2.server_adapter.udid
        target2 = m2.target_dev.name
        # pypowervm's bld moves the storage element it is given: the POST
        # carries d1's mapping (its target device too) without its storage.
        vios_w.scsi_mappings.append(pvm_vios.VSCSIMapping.bld(
            self.adpt, None, mgmt, m1.backing_storage))
        self.assertIsNone(m1.backing_storage)
        self.assertIsNotNone(m1.target_dev)
        vios_w = vios_w.update()
        maps = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid,
                                 include_orphans=True)
        # d1 is unmapped from the partition; its bus stays, without device.
        self.assertEqual([None, 'd2'], sorted(
            [m.backing_storage and m.backing_storage.name for m in maps],
            key=str))
        bare = [m for m in maps if m.backing_storage is None][0]
        self.assertIsNone(bare.target_dev)
        self.assertEqual(bus1, bare.server_adapter.udid)
        self.assertIsNone(bare.server_adapter.backing_dev_name)
        self.assertEqual(['d1'], [m.backing_storage.name for m in
                                  tsk_map.find_maps(vios_w.scsi_mappings,
                                                    mgmt)])
        # Another storage in a stored mapping: d2 swapped for d3 (same bus).
        m2 = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid,
                               stg_elem=disks[1])[0]
        m2.backing_storage = disks[2]
        vios_w = vios_w.update()
        m3, = [m for m in tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)
               if m.backing_storage is not None]
        self.assertEqual(('d3', bus2, target2), (
            m3.backing_storage.name, m3.server_adapter.udid,
            m3.target_dev.name))
        # d2 is free again.
        vg, by_name = self.vdisks()
        tsk_stg.rm_vg_storage(vg, vdisks=[by_name['d2']])

    def test_partition_delete_cascades(self):
        lpar = self.lpar()
        mgmt = self.sim.mgmt_uuid
        d1 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd1', 1)
        vios_w = self.vios()
        for client in (lpar.uuid, mgmt):
            tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
                None, vios_w, client, d1))
        vios_w = vios_w.update()
        self.assertEqual(2, len(self.sim.inventory()['scsi_mappings']))
        lpar.delete()
        left = self.sim.inventory()['scsi_mappings']
        self.assertEqual([mgmt.upper()], [m['client'] for m in left])
        # The disk is free once the last mapping goes.
        vios_w = self.vios()
        tsk_map.remove_maps(vios_w, mgmt)
        vios_w.update()
        vg, disks = self.vdisks()
        tsk_stg.rm_vg_storage(vg, vdisks=[disks['d1']])
        self.assertEqual([], self.sim.inventory()['scsi_mappings'])


class TestRequestedSlots(StorageTestCase):
    """Client slots asked for by number (a rebuild with slot maps)."""

    def test_cna_and_mapping_slots(self):
        from pypowervm.tasks import cna as pvm_cna
        lpar = self.lpar()
        self.assertEqual(7, pvm_cna.crt_cna(self.adpt, None, lpar.uuid, 100,
                                            slot_num=7).slot)
        before = self.sim.inventory()
        for slot, status in ((7, 409), (1, 400)):
            e = self.assertRaises(pvm_exc.HttpError, pvm_cna.crt_cna,
                                  self.adpt, None, lpar.uuid, 100,
                                  slot_num=slot)
            self.assertEqual(status, e.response.status)
        self.assertEqual(before, self.sim.inventory())
        d1 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd1', 1)
        d2 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd2', 1)
        vios_w = self.vios()
        # The CNA's slot is taken: refused, nothing changed.
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, d1, lpar_slot_num=7))
        e = self.assertRaises(pvm_exc.HttpError, vios_w.update)
        self.assertEqual(409, e.response.status)
        self.assertIn('Slot 7 of %s is in use (by a virtual adapter of the '
                      'partition)' % lpar.name, str(e.response.body))
        # Two new mappings naming one free slot in one update: one bus.
        vios_w = self.vios()
        for disk, lua in ((d1, '0x8100000000000000'),
                          (d2, '0x8200000000000000')):
            tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
                None, vios_w, lpar.uuid, disk, lpar_slot_num=9, lua=lua))
        vios_w = vios_w.update()
        maps = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)
        self.assertEqual({9}, {m.client_adapter.lpar_slot_num
                               for m in maps})
        self.assertEqual(1, len({m.server_adapter.udid for m in maps}))
        self.assertEqual({'0x8100000000000000', '0x8200000000000000'},
                         {m.target_dev.lua for m in maps})
