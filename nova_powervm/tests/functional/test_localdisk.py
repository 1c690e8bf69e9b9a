"""The localdisk driver against the REST simulator.

Real pypowervm over HTTP; assertions read the simulator's state back (the
volume group's virtual disks, SCSI mappings, the bytes of uploaded disks) and
count the REST requests each operation costs.
"""
import threading

from nova import exception as nova_exc
from nova import objects
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fix
from nova_powervm.virt.powervm.disk import localdisk
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import vm

IMAGE_SIZE = 3 * 1024 * 1024 + 123
INST1 = '1a2b3c4d-0000-4000-8000-00000000000a'
INST2 = '2b3c4d5e-0000-4000-8000-00000000000b'


def _instance(uuid, root_gb=1, image_ref=None, iid=1):
    return base.bare_instance(uuid, iid, 'vm%d' % iid, image_ref=image_ref,
                              root_gb=root_gb)


class LocalDiskSimTestCase(base.AdapterSimTestCase):

    def setUp(self):
        super().setUp()
        self.glance = self.useFixture(
            pvm_fix.StreamingGlanceFixture(self))
        img = self.glance.add_image(IMAGE_SIZE, name='ld-image')
        self.image_meta = objects.ImageMeta.from_dict(img)
        self.vg_name = self._pick_vg()
        self.flags(group='powervm', volume_group_name=self.vg_name)
        self.drv = localdisk.LocalStorage(self.adapter, self.host_w.uuid)
        self.img_name = localdisk.image_disk_name(img['id'])

    def _pick_vg(self):
        """A volume group of the simulated host (not the media repo's)."""
        names = []
        for vios_w in pvm_vios.VIOS.get(self.adapter):
            names += [vg.name for vg in pvm_stg.VG.get(self.adapter,
                                                       parent=vios_w)]
        for name in names:
            if name != 'rootvg' and name != localdisk.FILE_BACKED_VG:
                return name
        self.assertTrue(names, 'the simulator has no volume group')
        return names[0]

    def _vdisks(self):
        """{name: VDisk} of the volume group, read back over REST."""
        vg = self.drv._get_vg()
        return {localdisk._base_name(vd.name): vd for vd in vg.virtual_disks}

    def _disk_digest(self, name):
        """Digest of an image disk's image-sized head (zeros follow)."""
        return base.disk_digest(self.sim, name, base.image_size(
            self.glance, self.image_meta.id))


class TestLocalDiskSim(LocalDiskSimTestCase):

    def test_missing_vg_stops_init(self):
        before = self.sim.inventory()
        self.flags(group='powervm', volume_group_name='no_such_vg')
        ex = self.assertRaises(exc.VolumeGroupNotFound,
                               localdisk.LocalStorage, self.adapter,
                               self.host_w.uuid)
        self.assertIn('no_such_vg', str(ex))
        self.assertEqual(before, self.sim.inventory())

    def test_capacity(self):
        vg = self.drv._get_vg()
        self.assertEqual(vg.capacity, self.drv.capacity)
        self.assertEqual(vg.capacity - vg.available_size,
                         self.drv.capacity_used)

    def test_create_cache_attach_detach_delete(self):
        before = self.sim.inventory()
        inst1 = _instance(INST1, root_gb=2, image_ref=self.image_meta.id)
        inst2 = _instance(INST2, root_gb=3, image_ref=self.image_meta.id,
                          iid=2)
        boot1 = self.drv.get_disk_name('boot', inst1, short=True)
        boot2 = self.drv.get_disk_name('boot', inst2, short=True)

        # First boot of the image: uploaded once, then copied.  One read of
        # the VG: the image disk is added to it, and the copy starts from
        # the VG that update returned (the upload does not change it).
        disk1, reqs = self._requests(self.drv.create_disk_from_image, None,
                                     inst1, self.image_meta)
        uploads = [r for r in reqs if '/web/File/contents/' in r[1]]
        self.assertEqual(1, len(uploads))
        self.assertEqual(['GET', 'POST', 'PUT', 'PUT', 'DELETE', 'POST'],
                         [r[0] for r in reqs], reqs)
        self.assertEqual([self.image_meta.id], self.glance.downloads)
        vdisks = self._vdisks()
        self.assertIn(self.img_name, vdisks)
        self.assertIn(boot1, vdisks)
        self.assertEqual(2, vdisks[boot1].capacity)
        self.assertEqual(self.glance.image_digest(self.image_meta.id),
                         self._disk_digest(self.img_name))

        # Second boot: the cached image is reused, nothing uploaded.
        disk2, reqs = self._requests(self.drv.create_disk_from_image, None,
                                     inst2, self.image_meta)
        self.assertEqual([], [r for r in reqs if '/web/' in r[1]])
        self.assertEqual(2, len(reqs), reqs)
        self.assertEqual([self.image_meta.id], self.glance.downloads)
        self.assertEqual(3, self._vdisks()[boot2].capacity)

        # Attach to a partition through a VIOS feed task.
        lpar = vm.create_lpar(self.adapter, self.host_w, inst1)
        ftsk = pvm_par.build_active_vio_feed_task(
            self.adapter, xag=[pvm_const.XAG.VIO_SMAP])
        self.drv.attach_disk(inst1, disk1, ftsk)
        _ret, reqs = self._requests(ftsk.execute)
        self.assertEqual(1, len([r for r in reqs if r[0] == 'POST']), reqs)
        vios_w = pvm_vios.VIOS.get(self.adapter, uuid=self.drv.vios_uuids[0],
                                   xag=[pvm_const.XAG.VIO_SMAP])
        maps = tsk_map.find_maps(vios_w.scsi_mappings,
                                 client_lpar_id=lpar.uuid,
                                 stg_elem=disk1)
        self.assertEqual(1, len(maps))
        self.assertEqual(disk1.udid, self.drv.get_bootdisk_storage(
            inst1).udid)

        # Detach and delete.
        detached, reqs = self._requests(self.drv.detach_disk, inst1)
        self.assertEqual([disk1.udid], [d.udid for d in detached])
        self.assertEqual(2, len(reqs), reqs)
        _ret, reqs = self._requests(self.drv.delete_disks, detached)
        self.assertEqual(2, len(reqs), reqs)
        self.assertNotIn(boot1, self._vdisks())
        vios_w = pvm_vios.VIOS.get(self.adapter, uuid=self.drv.vios_uuids[0],
                                   xag=[pvm_const.XAG.VIO_SMAP])
        self.assertEqual([], tsk_map.find_maps(vios_w.scsi_mappings,
                                               client_lpar_id=lpar.uuid))

        # inst2 never had a partition: its disk is still found by name.
        self.drv.delete_disks(self.drv.detach_disk(inst2))
        self.assertNotIn(boot2, self._vdisks())

        # The image cache keeps images in use, removes the unused one.
        self.assertEqual([], self.drv.manage_image_cache(None, [inst1]))
        self.assertEqual([self.img_name],
                         self.drv.manage_image_cache(None, []))
        vm.delete_lpar(self.adapter, inst1)
        self.assertEqual(before, self.sim.inventory())

    def test_concurrent_spawns_upload_once(self):
        insts = [_instance('%d' % i + INST1[1:], image_ref=self.image_meta.id,
                           iid=i + 1) for i in range(3)]
        errors = []

        def spawn(inst):
            try:
                self.drv.create_disk_from_image(None, inst, self.image_meta)
            except Exception as e:  # reported by the assertion below
                errors.append(e)

        self.sim.clear_request_log()
        threads = [threading.Thread(target=spawn, args=(i,)) for i in insts]
        for thr in threads:
            thr.start()
        for thr in threads:
            thr.join()
        self.assertEqual([], errors)
        uploads = [r for r in self.sim.request_log()
                   if '/web/File/contents/' in r['path']]
        self.assertEqual(1, len(uploads))
        self.assertEqual([self.image_meta.id], self.glance.downloads)
        names = set(self._vdisks())
        for inst in insts:
            self.assertIn(self.drv.get_disk_name('boot', inst, short=True),
                          names)

    def test_upload_failure_leaves_nothing(self):
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path='/web/File/contents/',
                              status=500)
        inst = _instance(INST1, image_ref=self.image_meta.id)
        self.assertRaises(pvm_exc.HttpError, self.drv.create_disk_from_image,
                          None, inst, self.image_meta)
        self.assertEqual(before, self.sim.inventory())
        # The next boot uploads it properly.
        self.sim.clear_faults()
        self.drv.create_disk_from_image(None, inst, self.image_meta)
        self.assertEqual(self.glance.image_digest(self.image_meta.id),
                         self._disk_digest(self.img_name))

    def test_file_create_failure_leaves_nothing(self):
        # pypowervm itself only cleans up after a failed data transfer.
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path='/web/File$', status=500)
        self.assertRaises(pvm_exc.HttpError, self.drv.create_disk_from_image,
                          None, _instance(INST1), self.image_meta)
        self.assertEqual(before, self.sim.inventory())

    def test_extend(self):
        inst = _instance(INST1, root_gb=1, image_ref=self.image_meta.id)
        self.drv.create_disk_from_image(None, inst, self.image_meta)
        self.drv.extend_disk(inst, None, 4)
        boot = self.drv.get_disk_name('boot', inst, short=True)
        self.assertEqual(4, self._vdisks()[boot].capacity)
        self.assertRaises(exc.DiskShrinkNotSupported, self.drv.extend_disk,
                          inst, None, 2)

    def test_bad_image_format_changes_nothing(self):
        before = self.sim.inventory()
        meta = objects.ImageMeta.from_dict(
            dict(self.glance.add_image(10, name='iso'), disk_format='iso'))
        self.assertRaises(nova_exc.ImageUnacceptable,
                          self.drv.create_disk_from_image, None,
                          _instance(INST1), meta)
        self.assertEqual(before, self.sim.inventory())


class TestFileBackedSim(LocalDiskSimTestCase):
    """``QCOW VG - default``: file-backed disks, resize refused."""

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', volume_group_name=localdisk.FILE_BACKED_VG)
        self.drv = localdisk.LocalStorage(self.adapter, self.host_w.uuid)

    def test_spawn_attach_delete_no_resize(self):
        self.assertFalse(self.drv.capabilities['extend'])
        inst = _instance(INST1, root_gb=2, image_ref=self.image_meta.id)
        disk = self.drv.create_disk_from_image(None, inst, self.image_meta)
        self.assertEqual(pvm_stg.BackStoreType.USER_QCOW,
                         disk.backstore_type)
        self.assertEqual(self.glance.image_digest(self.image_meta.id),
                         self._disk_digest(self.img_name))
        lpar = vm.create_lpar(self.adapter, self.host_w, inst)
        ftsk = pvm_par.build_active_vio_feed_task(
            self.adapter, xag=[pvm_const.XAG.VIO_SMAP])
        self.drv.attach_disk(inst, disk, ftsk)
        ftsk.execute()
        self.assertEqual(disk.udid,
                         self.drv.get_bootdisk_storage(inst).udid)

        before = self.sim.inventory()
        self.sim.clear_request_log()
        ex = self.assertRaises(exc.DiskExtendNotSupported,
                               self.drv.extend_disk, inst, None, 4)
        self.assertIn('file-backed', str(ex))
        self.assertEqual([], self.sim.request_log())
        self.assertEqual(before, self.sim.inventory())

        self.drv.delete_disks(self.drv.detach_disk(inst))
        boot = self.drv.get_disk_name('boot', inst, short=True)
        self.assertNotIn(boot, self._vdisks())
        vios_w = pvm_vios.VIOS.get(self.adapter, uuid=self.drv.vios_uuids[0],
                                   xag=[pvm_const.XAG.VIO_SMAP])
        self.assertEqual([], tsk_map.find_maps(vios_w.scsi_mappings,
                                               client_lpar_id=lpar.uuid))
