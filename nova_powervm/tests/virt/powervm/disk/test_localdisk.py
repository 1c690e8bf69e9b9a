"""Unit tests for the localdisk driver: what it sends to pypowervm.

The adapter is a mock standing in for a REST server that holds one volume
group (pypowervm's recorded ``upload_volgrp.txt``): reads answer its current
state, an update (POST) stores what was sent, filling the UDIDs of new
virtual disks the way PowerVM does.
"""
import copy
import threading
import time
from unittest import mock

from nova import exception as nova_exc
from nova import objects
from nova import test
from oslo_utils import units
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import storage as tsk_stg
from pypowervm.tests.test_utils import pvmhttp
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.virt.powervm.disk import fake_adapter
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm.disk import localdisk
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import image

VIOS_FEED = 'fake_vios_feed.txt'
VG_FEED = 'fake_volume_group2.txt'      # rootvg + image_pool
VG_ENTRY = 'upload_volgrp.txt'          # image_pool, one disk 'test'
VG_UUID = 'b6bdbf1f-eddf-3c81-8801-9859eb6fedcb'
IMAGE_ID = '7b3a3c2e-8d2a-4f0e-a6ad-2c1c1a0e9f11'
INST_UUID = '4c8ab5c1-7bc0-4a46-9d2c-0d4a0d6a2b6e'


def _resp(name, adpt):
    return pvmhttp.load_pvm_resp(name, adapter=adpt).get_response()


class FakeVGServer(object):
    """Answers the adapter's reads/updates of the volume group."""

    def __init__(self, adpt):
        self.adpt = adpt
        adpt.session.timeout = 1200
        self.vios_feed = _resp(VIOS_FEED, adpt)
        self.vg_feed = _resp(VG_FEED, adpt)
        self._resp = _resp(VG_ENTRY, adpt)
        self.vg = pvm_stg.VG.wrap(self._resp)
        self.etag = 1
        self.posted = []
        self.next_udid = 100
        adpt.read.side_effect = self.read
        adpt.read_by_href.side_effect = self.read_by_href
        adpt.update_by_path.side_effect = self.update

    def add_disk(self, name, capacity=1.0):
        vdisk = pvm_stg.VDisk.bld(self.adpt, name, capacity)
        self._set_udid(vdisk)
        self.vg.virtual_disks.append(vdisk)
        return vdisk

    def _set_udid(self, vdisk):
        self.next_udid += 1
        vdisk.set_parm_value('UniqueDeviceID',
                             '0300f8d6de00004b0000000.%d' % self.next_udid)

    def disk_names(self):
        return sorted(vd.name for vd in self.vg.virtual_disks)

    def _answer(self):
        resp = copy.copy(self._resp)
        resp.entry = copy.deepcopy(self.vg.entry)
        resp.headers = dict(self._resp.headers, etag=str(self.etag))
        return resp

    def read(self, root_type, root_id=None, child_type=None, child_id=None,
             **kwargs):
        if root_type == pvm_vios.VIOS.schema_type and not child_type:
            return self.vios_feed
        if child_type == pvm_stg.VG.schema_type and not child_id:
            return self.vg_feed
        if child_id == VG_UUID:
            return self._answer()
        raise AssertionError('unexpected read %s' % ((root_type, root_id,
                                                      child_type, child_id),))

    def read_by_href(self, href, **kwargs):
        # A refresh after an etag mismatch.
        assert href.endswith('VolumeGroup/' + VG_UUID), href
        return self._answer()

    def update(self, wrapper, etag, path, **kwargs):
        assert path.endswith('VolumeGroup/' + VG_UUID), path
        if etag != str(self.etag):
            raise AssertionError('stale etag %s' % etag)
        self.posted.append(wrapper)
        new_vg = pvm_stg.VG.wrap(copy.deepcopy(wrapper.entry))
        for vdisk in new_vg.virtual_disks:
            if not vdisk.udid:
                self._set_udid(vdisk)
        self.vg = new_vg
        self.etag += 1
        return self._answer()


def _instance(root_gb=10, uuid=INST_UUID, image_ref=IMAGE_ID):
    inst = objects.Instance(uuid=uuid, id=int(uuid[0]) + 1,
                            image_ref=image_ref)
    inst.flavor = objects.Flavor(root_gb=root_gb)
    return inst


def _image_meta(size=3 * units.Gi // 2, disk_format='raw', **kw):
    return objects.ImageMeta.from_dict(dict(
        id=IMAGE_ID, size=size, disk_format=disk_format, **kw))


class TestLocalDiskInit(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = fake_adapter.adapter()
        self.srv = FakeVGServer(self.adpt)

    def test_no_vg_name(self):
        self.flags(group='powervm', volume_group_name='')
        self.assertRaises(exc.VolumeGroupNotConfigured,
                          localdisk.LocalStorage, self.adpt, 'host')
        self.adpt.read.assert_not_called()

    def test_vg_not_found(self):
        self.flags(group='powervm', volume_group_name='nopool')
        ex = self.assertRaises(exc.VolumeGroupNotFound,
                               localdisk.LocalStorage, self.adpt, 'host')
        self.assertIn('nopool', str(ex))
        self.assertIn('nimbus-ch03-p2-vios1', str(ex))
        # VIOS feed + the VG feed of each VIOS; nothing written.
        self.assertEqual(3, self.adpt.read.call_count)
        self.adpt.update_by_path.assert_not_called()

    def test_found(self):
        self.flags(group='powervm', volume_group_name='image_pool')
        drv = localdisk.LocalStorage(self.adpt, 'host')
        self.assertEqual(['1300C76F-9814-4A4D-B1F0-5B69352A7DEA'],
                         drv.vios_uuids)
        self.assertEqual(VG_UUID, drv.vg_uuid)
        self.assertEqual({'shared_storage': False, 'has_imagecache': True,
                          'snapshot': True, 'extend': True},
                         drv.capabilities)
        self.assertEqual(('raw',), drv.image_formats)
        # The VIOS feed is read without extended attribute groups.
        vios_call = self.adpt.read.call_args_list[0]
        self.assertEqual(pvm_vios.VIOS.schema_type, vios_call[0][0])
        self.assertIsNone(vios_call[1].get('xag'))
        self.assertEqual(2, self.adpt.read.call_count)

    def test_file_backed(self):
        self.flags(group='powervm', volume_group_name=localdisk.FILE_BACKED_VG)
        feed = pvm_stg.VG.wrap(self.srv.vg_feed)
        feed[1].name = localdisk.FILE_BACKED_VG
        drv = localdisk.LocalStorage(self.adpt, 'host')
        self.assertTrue(drv.file_backed)
        self.assertFalse(drv.capabilities['extend'])
        self.assertTrue(drv.capabilities['has_imagecache'])
        # Its disks are files of the image's format: qcow2 boots.
        self.assertEqual(('raw', 'qcow2'), drv.image_formats)
        meta = objects.ImageMeta.from_dict(
            {'id': 'c0ffee00-0000-4000-8000-000000000001',
             'disk_format': 'qcow2', 'container_format': 'bare'})
        self.assertEqual('qcow2', drv.check_image(meta))
        # The class default is untouched.
        self.assertFalse(disk_dvr.DiskAdapter.capabilities['has_imagecache'])


class LocalDiskTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', volume_group_name='image_pool')
        self.adpt = fake_adapter.adapter()
        self.srv = FakeVGServer(self.adpt)
        self.drv = localdisk.LocalStorage(self.adpt, 'host')
        self.adpt.read.reset_mock()
        self.boot_name = 'b_' + INST_UUID.replace('-', '')[:13]
        self.img_name = 'i_' + IMAGE_ID.replace('-', '')[:13]

    def _vg_reads(self):
        return [c for c in self.adpt.read.call_args_list
                if c[1].get('child_id') == VG_UUID or
                (len(c[0]) > 3 and c[0][3] == VG_UUID)]


class TestFindVDisk(LocalDiskTestCase):
    """_find_vdisk reads names from the XML: as pypowervm's wrappers."""

    @staticmethod
    def _walk(vg_wrap, name):
        for vdisk in vg_wrap.virtual_disks:
            if localdisk._base_name(vdisk.name) == name:
                return vdisk
        return None

    def test_same_as_wrappers(self):
        self.srv.add_disk('b_one')
        self.srv.add_disk('/var/lib/files/b_two')
        vgs = [self.srv.vg] + pvm_stg.VG.wrap(self.srv.vg_feed)
        names = ['test', 'b_one', 'b_two', '/var/lib/files/b_two', 'none',
                 'b_tw']
        for vg_wrap in vgs:
            names += [vd.name for vd in vg_wrap.virtual_disks]
        found = 0
        for vg_wrap in vgs:
            for name in names:
                want = self._walk(vg_wrap, name)
                got = localdisk._find_vdisk(vg_wrap, name)
                if want is None:
                    self.assertIsNone(got, name)
                    continue
                found += 1
                self.assertIs(type(want), type(got))
                self.assertIs(want.element.element, got.element.element)
                self.assertIs(want.adapter, got.adapter)
                self.assertEqual(want.udid, got.udid)
        self.assertGreater(found, 4)
        # The disk found is the volume group's own: removing it removes it.
        self.srv.vg.virtual_disks.remove(
            localdisk._find_vdisk(self.srv.vg, 'b_one'))
        self.assertIsNone(localdisk._find_vdisk(self.srv.vg, 'b_one'))

    def test_no_disks(self):
        vg_wrap = pvm_stg.VG.bld(self.adpt, 'empty', [])
        self.assertIsNone(localdisk._find_vdisk(vg_wrap, 'test'))


class TestCapacity(LocalDiskTestCase):

    def test_capacity_one_read(self):
        # Force a fresh read, then both values come from it.
        self.drv._vg_seen = (0.0, None)
        self.assertEqual(1063.0, self.drv.capacity)
        self.assertEqual(1063.0 - 1045.0, self.drv.capacity_used)
        self.assertEqual(1, self.adpt.read.call_count)

    @mock.patch('time.monotonic')
    def test_capacity_rereads_after_ttl(self, mock_time):
        mock_time.return_value = 1000.0
        self.drv._vg_seen = (0.0, None)
        self.drv.capacity
        mock_time.return_value = 1000.0 + localdisk.STATS_TTL + 1
        self.drv.capacity_used
        self.assertEqual(2, self.adpt.read.call_count)


class TestCreateDisk(LocalDiskTestCase):

    def test_cached_image(self):
        img = self.srv.add_disk(self.img_name, 2)
        vdisk = self.drv.create_disk_from_image(
            'ctx', _instance(root_gb=10), _image_meta())
        self.assertEqual(self.boot_name, vdisk.name)
        self.assertTrue(vdisk.udid)
        # One read and one update of the VG: nothing uploaded.
        self.assertEqual(1, self.adpt.read.call_count)
        self.assertEqual(1, len(self.srv.posted))
        new = localdisk._find_vdisk(self.srv.posted[0], self.boot_name)
        self.assertEqual(10, new.capacity)
        self.assertEqual(img.udid, new.element.findtext('BaseImage'))
        self.assertEqual('raw', new.file_format)
        self.assertEqual(pvm_stg.VDiskType.LV, new.vdtype)
        self.assertEqual(sorted([self.boot_name, self.img_name, 'test']),
                         self.srv.disk_names())

    def test_boot_disk_answer_shared_not_copied(self):
        # The spawn only reads the VG the boot disk's update answers (its
        # mapping copies the disk): no copy of the VG for it.
        self.srv.add_disk(self.img_name, 2)
        with mock.patch.object(batch, '_copy',
                               side_effect=batch._copy) as m_copy:
            vdisk = self.drv.create_disk_from_image(
                'ctx', _instance(root_gb=10), _image_meta())
        # One copy: the batch's base (the VG read stays the caller's);
        # none of the answer.
        self.assertEqual(1, m_copy.call_count)
        self.assertEqual(self.boot_name, vdisk.name)
        # A later change of the VG starts from a copy: the shared answer
        # (and the disk in it) stays as the spawn got it.
        shared = self.drv._vg_seen[1]
        self.drv.delete_disks([vdisk])
        self.assertIsNone(localdisk._find_vdisk(self.srv.posted[-1],
                                                self.boot_name))
        self.assertIsNotNone(localdisk._find_vdisk(shared, self.boot_name))

    def test_root_gb_zero_uses_image_size(self):
        self.srv.add_disk(self.img_name, 2)
        self.drv.create_disk_from_image('ctx', _instance(root_gb=0),
                                        _image_meta(size=3 * units.Gi // 2))
        new = localdisk._find_vdisk(self.srv.posted[0], self.boot_name)
        self.assertEqual(2, new.capacity)

    @mock.patch.object(image, 'IMAGE_API')
    def test_new_image_uploaded_streamed(self, mock_api):
        data = [b'x' * 1000, b'y' * 24]
        mock_api.download.return_value = iter(data)
        seen = {}

        def fake_upload(v_uuid, target, stream, f_size):
            seen['args'] = (v_uuid, target.adapter, target.name, target.udid,
                            f_size)
            seen['stream_type'] = type(stream)
            seen['data'] = b''.join(iter(lambda: stream.read(100), b''))
            return None

        with mock.patch.object(tsk_stg, 'upload_lu',
                               side_effect=fake_upload):
            vdisk = self.drv.create_disk_from_image(
                'ctx', _instance(), _image_meta(size=1024))
        # The image disk: 1 GB (whole GB, at least the image), raw.
        self.assertEqual(2, len(self.srv.posted))
        img = localdisk._find_vdisk(self.srv.posted[0], self.img_name)
        self.assertEqual(1, img.capacity)
        self.assertEqual('raw', img.file_format)
        self.assertIsNone(img.element.findtext('BaseImage'))
        self.assertIsNone(localdisk._find_vdisk(self.srv.posted[0],
                                                self.boot_name))
        # The data went into that disk (the UDID the server gave it).
        udid = localdisk._find_vdisk(self.srv.vg, self.img_name).udid
        self.assertEqual(('1300C76F-9814-4A4D-B1F0-5B69352A7DEA', self.adpt,
                          self.img_name, udid, 1024), seen['args'])
        self.assertIs(image.ImageStream, seen['stream_type'])
        self.assertEqual(b''.join(data), seen['data'])
        mock_api.download.assert_called_once_with('ctx', IMAGE_ID)
        # The image id's metadata was not fetched again (size was known).
        mock_api.get.assert_not_called()
        # One read (the lookup): the copy starts from the VG the image
        # disk's update returned (the upload does not change the VG).
        self.assertEqual(1, self.adpt.read.call_count)
        new = localdisk._find_vdisk(self.srv.posted[1], self.boot_name)
        self.assertEqual(udid, new.element.findtext('BaseImage'))
        self.assertEqual(self.boot_name, vdisk.name)

    @mock.patch.object(image, 'IMAGE_API')
    def test_upload_failure_no_copy(self, mock_api):
        mock_api.download.return_value = iter([b'short'])
        with mock.patch.object(tsk_stg, 'upload_lu') as mock_up:
            def consume(v, target, stream, *a, **k):
                stream.read(1 << 20)
                stream.read(1 << 20)
            mock_up.side_effect = consume
            ex = self.assertRaises(
                nova_exc.ImageUnacceptable,
                self.drv.create_disk_from_image, 'ctx', _instance(),
                _image_meta(size=1024))
        self.assertIn('5 bytes, expected 1024', str(ex))
        # The image disk was made, then removed; no boot disk.
        self.assertEqual(2, len(self.srv.posted))
        self.assertFalse(any(localdisk._find_vdisk(vg, self.boot_name)
                             for vg in self.srv.posted))
        self.assertEqual(['test'], self.srv.disk_names())

    def test_failed_upload_removes_image_disk(self):
        # E.g. creating the upload's File failed after the disk was made:
        # the driver removes that disk.
        with mock.patch.object(image, 'image_stream',
                               return_value=(mock.MagicMock(), 100)), \
                mock.patch.object(tsk_stg, 'upload_lu',
                                  side_effect=ValueError('File failed')):
            self.assertRaises(ValueError, self.drv.create_disk_from_image,
                              'ctx', _instance(), _image_meta())
        self.assertEqual(['test'], self.srv.disk_names())
        self.assertEqual(2, len(self.srv.posted))
        self.assertIsNotNone(localdisk._find_vdisk(self.srv.posted[0],
                                                   self.img_name))
        self.assertIsNone(localdisk._find_vdisk(self.srv.posted[1],
                                                self.img_name))

    def test_image_disk_creation_lost_answer_not_made_twice(self):
        # The server makes the image disk and the answer is lost (500): the
        # retry on a fresh read finds it and uploads into it.
        real_update = self.srv.update

        def update(wrapper, etag, path, **kwargs):
            real_update(wrapper, etag, path, **kwargs)
            if len(self.srv.posted) == 1:
                raise pvm_exc.HttpError(mock.Mock(status=500, reqmethod='POST',
                                                  reqpath=path, body=''))
            return self.srv._answer()
        self.adpt.update_by_path.side_effect = update
        with mock.patch.object(image, 'image_stream',
                               return_value=(mock.MagicMock(), 100)), \
                mock.patch.object(tsk_stg, 'upload_lu',
                                  return_value=None) as mock_up:
            self.drv.create_disk_from_image('ctx', _instance(),
                                            _image_meta())
        udid = localdisk._find_vdisk(self.srv.vg, self.img_name).udid
        self.assertEqual(udid, mock_up.call_args[0][1].udid)
        self.assertEqual(sorted([self.boot_name, self.img_name, 'test']),
                         self.srv.disk_names())

    def test_bad_disk_format(self):
        ex = self.assertRaises(
            nova_exc.ImageUnacceptable, self.drv.create_disk_from_image,
            'ctx', _instance(), _image_meta(disk_format='vmdk'))
        self.assertIn('vmdk', str(ex))
        self.assertIn('use one of: raw', str(ex))
        self.adpt.read.assert_not_called()

    def test_qcow2_refused_on_logical_volume_group(self):
        # A logical volume holds the qcow2 bytes as they are: unbootable.
        for call in (self.drv.check_image,
                     lambda meta: self.drv.create_disk_from_image(
                         'ctx', _instance(), meta)):
            ex = self.assertRaises(nova_exc.ImageUnacceptable, call,
                                   _image_meta(disk_format='qcow2'))
            self.assertIn('qcow2 boots only from the file-backed volume '
                          'group QCOW VG - default', str(ex))
            self.assertIn('image_pool', str(ex))
        self.adpt.read.assert_not_called()
        self.assertEqual('raw',
                         self.drv.check_image(_image_meta(disk_format='raw')))

    def test_image_bigger_than_flavor(self):
        self.assertRaises(
            nova_exc.FlavorDiskSmallerThanImage,
            self.drv.create_disk_from_image, 'ctx', _instance(root_gb=1),
            _image_meta(size=2 * units.Gi))
        self.adpt.read.assert_not_called()

    def test_boot_disk_exists(self):
        self.srv.add_disk(self.img_name, 2)
        self.srv.add_disk(self.boot_name, 10)
        self.assertRaises(nova_exc.StorageError,
                          self.drv.create_disk_from_image, 'ctx',
                          _instance(), _image_meta())
        self.assertEqual([], self.srv.posted)

    def test_lost_answer_boot_disk_not_added_twice(self):
        # The server makes the boot disk, then the answer is lost (HTTP
        # 500): the change is retried on a fresh read, finds its disk and
        # adds nothing (no second POST, no duplicate).
        self.srv.add_disk(self.img_name, 2)
        real_update = self.srv.update

        def update(wrapper, etag, path, **kwargs):
            real_update(wrapper, etag, path, **kwargs)
            if len(self.srv.posted) == 1:
                raise pvm_exc.HttpError(mock.Mock(status=500, reqmethod='POST',
                                                  reqpath=path, body=''))
            return self.srv._answer()
        self.adpt.update_by_path.side_effect = update
        vdisk = self.drv.create_disk_from_image(
            'ctx', _instance(root_gb=10), _image_meta())
        self.assertEqual(self.boot_name, vdisk.name)
        self.assertTrue(vdisk.udid)
        self.assertEqual(1, len(self.srv.posted))
        self.assertEqual(sorted([self.boot_name, self.img_name, 'test']),
                         self.srv.disk_names())

    def test_concurrent_new_image_uploaded_once(self):
        uploads = []

        def slow_upload(v_uuid, target, stream, f_size):
            uploads.append(target.name)
            time.sleep(0.2)

        insts = [_instance(uuid='%d' % i + INST_UUID[1:]) for i in range(3)]
        errors = []

        def spawn(inst):
            try:
                self.drv.create_disk_from_image('ctx', inst, _image_meta())
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        with mock.patch.object(image, 'image_stream',
                               return_value=(mock.MagicMock(), 100)), \
                mock.patch.object(tsk_stg, 'upload_lu',
                                  side_effect=slow_upload):
            threads = [threading.Thread(target=spawn, args=(i,))
                       for i in insts]
            for thr in threads:
                thr.start()
            for thr in threads:
                thr.join()
        self.assertEqual([], errors)
        self.assertEqual([self.img_name], uploads)
        self.assertEqual(5, len(self.srv.disk_names()))

    def test_different_images_not_serialized(self):
        # The lock is per image: a second image's lookup runs while the
        # first image's upload is still going on.
        started = threading.Event()
        release = threading.Event()
        order = []

        def upload(v_uuid, target, stream, f_size):
            order.append('upload ' + target.name)
            if not started.is_set():
                started.set()
                release.wait(5)

        other = dict(id='11111111-2222-3333-4444-555555555555', size=100,
                     disk_format='raw')
        with mock.patch.object(image, 'image_stream',
                               return_value=(mock.MagicMock(), 100)), \
                mock.patch.object(tsk_stg, 'upload_lu',
                                  side_effect=upload):
            thr = threading.Thread(
                target=self.drv.create_disk_from_image,
                args=('ctx', _instance(), _image_meta()))
            thr.start()
            started.wait(5)
            self.drv.create_disk_from_image(
                'ctx', _instance(uuid='9' + INST_UUID[1:]),
                objects.ImageMeta.from_dict(other))
            order.append('second done')
            release.set()
            thr.join()
        self.assertEqual(['upload ' + self.img_name, 'upload i_1111111122223',
                          'second done'], order[:3])


class TestDetachDelete(LocalDiskTestCase):

    def test_delete_by_udid_and_name(self):
        keep = self.srv.add_disk('b_other')
        gone = self.srv.add_disk(self.boot_name)
        self.srv.add_disk('b_byname')
        ref = pvm_stg.VDisk.bld_ref(self.adpt, 'b_byname')
        ret = self.drv.delete_disks([gone, ref])
        self.assertEqual(sorted([self.boot_name, 'b_byname']), sorted(ret))
        self.assertEqual(1, self.adpt.read.call_count)
        self.assertEqual(1, len(self.srv.posted))
        self.assertEqual(sorted(['b_other', 'test']), self.srv.disk_names())
        self.assertEqual(keep.udid, localdisk._find_vdisk(
            self.srv.vg, 'b_other').udid)

    def test_delete_empty_and_absent(self):
        self.assertEqual([], self.drv.delete_disks([]))
        self.adpt.read.assert_not_called()
        ref = pvm_stg.VDisk.bld_ref(self.adpt, 'b_nothere')
        self.assertEqual([], self.drv.delete_disks([ref]))
        self.assertEqual(1, self.adpt.read.call_count)
        self.assertEqual([], self.srv.posted)

    def test_delete_retries_on_etag_mismatch(self):
        gone = self.srv.add_disk(self.boot_name)
        real_read = self.srv.read

        def racing_read(*args, **kwargs):
            resp = real_read(*args, **kwargs)
            if self.adpt.read.call_count == 1:
                # Someone else changes the VG after our read.
                self.srv.etag += 1
            return resp
        self.adpt.read.side_effect = racing_read
        real_update = self.srv.update

        def update(wrapper, etag, path, **kwargs):
            if etag != str(self.srv.etag):
                from pypowervm.tests.tasks import util as tju
                tju.raiseRetryException()
            return real_update(wrapper, etag, path, **kwargs)
        self.adpt.update_by_path.side_effect = update
        self.assertEqual([self.boot_name], self.drv.delete_disks([gone]))
        self.assertEqual(['test'], self.srv.disk_names())
        # 412 on the first POST, refresh, second POST.
        self.assertEqual(2, self.adpt.update_by_path.call_count)
        self.adpt.read_by_href.assert_called_once()

    @mock.patch.object(disk_dvr.DiskAdapter, 'detach_disk')
    def test_detach_returns_mapped(self, mock_super):
        mock_super.return_value = ['mapped']
        self.assertEqual(['mapped'], self.drv.detach_disk(_instance()))

    @mock.patch.object(disk_dvr.DiskAdapter, 'detach_disk')
    def test_detach_no_mapping_returns_boot_ref(self, mock_super):
        mock_super.return_value = []
        ret = self.drv.detach_disk(_instance())
        self.assertEqual([self.boot_name], [r.name for r in ret])
        self.assertIsNone(ret[0].udid)

    def test_match_func_file_path(self):
        match = self.drv.disk_match_func(disk_dvr.DiskType.BOOT, _instance())
        self.assertTrue(match(pvm_stg.VDisk.bld_ref(
            self.adpt, '/var/vio/VMLibrary/' + self.boot_name)))
        self.assertFalse(match(pvm_stg.VDisk.bld_ref(self.adpt, 'b_x')))
        self.assertFalse(match(pvm_stg.VOptMedia.bld_ref(
            self.adpt, self.boot_name)))
        self.assertFalse(match(None))


class TestExtend(LocalDiskTestCase):

    def test_extend(self):
        self.srv.add_disk(self.boot_name, 10)
        vdisk = self.drv.extend_disk(_instance(), None, 20)
        self.assertEqual(20, vdisk.capacity)
        self.assertEqual(1, self.adpt.read.call_count)
        self.assertEqual(1, len(self.srv.posted))
        self.assertEqual(20, localdisk._find_vdisk(
            self.srv.posted[0], self.boot_name).capacity)

    def test_same_size_noop(self):
        self.srv.add_disk(self.boot_name, 10)
        self.drv.extend_disk(_instance(), None, 10)
        self.assertEqual([], self.srv.posted)

    def test_shrink_refused(self):
        self.srv.add_disk(self.boot_name, 10)
        self.assertRaises(exc.DiskShrinkNotSupported,
                          self.drv.extend_disk, _instance(), None, 5)
        self.assertEqual([], self.srv.posted)

    def test_missing_disk(self):
        self.assertRaises(nova_exc.DiskNotFound,
                          self.drv.extend_disk, _instance(), None, 20)

    def test_file_backed_vg_refused_before_any_request(self):
        self.drv.file_backed = True
        ex = self.assertRaises(exc.DiskExtendNotSupported,
                               self.drv.extend_disk, _instance(), None, 20)
        self.assertIn('file-backed', str(ex))
        self.adpt.read.assert_not_called()

    def test_file_backed_disk_refused(self):
        vdisk = self.srv.add_disk(self.boot_name, 10)
        vdisk._backstore_type(pvm_stg.BackStoreType.USER_QCOW)
        self.assertRaises(exc.DiskExtendNotSupported,
                          self.drv.extend_disk, _instance(), None, 20)
        self.assertEqual([], self.srv.posted)


class TestImageCache(LocalDiskTestCase):

    def test_removes_unused_images_only(self):
        used = self.srv.add_disk(self.img_name)
        self.srv.add_disk('i_deadbeef0000')
        self.srv.add_disk(self.boot_name)
        gone = self.drv.manage_image_cache(
            'ctx', [_instance(), _instance(uuid='1' + INST_UUID[1:],
                                           image_ref='')])
        self.assertEqual(['i_deadbeef0000'], gone)
        self.assertEqual(1, self.adpt.read.call_count)
        self.assertEqual(1, len(self.srv.posted))
        self.assertEqual(sorted([self.boot_name, used.name, 'test']),
                         self.srv.disk_names())

    def test_nothing_unused_no_update(self):
        self.srv.add_disk(self.img_name)
        self.assertEqual([], self.drv.manage_image_cache(
            'ctx', [_instance()]))
        self.assertEqual([], self.srv.posted)

    def test_image_in_use_by_spawn_kept(self):
        self.srv.add_disk(self.img_name)
        sem = self.drv._image_locks.get(self.img_name)
        with sem:
            self.assertEqual([], self.drv.manage_image_cache('ctx', []))
        self.assertIn(self.img_name, self.srv.disk_names())
        self.assertEqual([self.img_name],
                         self.drv.manage_image_cache('ctx', []))

    def test_disabled(self):
        self.flags(group='image_cache', remove_unused_base_images=False)
        self.srv.add_disk(self.img_name)
        self.assertEqual([], self.drv.manage_image_cache('ctx', []))
        self.adpt.read.assert_not_called()

    def test_image_disk_name_fits_vdisk_limit(self):
        name = localdisk.image_disk_name(IMAGE_ID)
        self.assertEqual(self.img_name, name)
        self.assertLessEqual(len(name), pvm_const.MaxLen.VDISK_NAME)
        self.assertEqual(name, localdisk.image_disk_name(_image_meta()))
