"""Tests of the shared functional fixtures (no simulator needed)."""
import hashlib
import io
import os
import types

from nova import exception
import testtools

from nova_powervm.tests.functional import base as fm_base
from nova_powervm.tests.functional import fixtures as pvm_fixtures


class TestStreamingGlanceFixture(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(pvm_fixtures.fixtures.FakeLogger())
        # nova's GlanceFixture stubs nova.image.glance through test.stub_out.
        self.stub_out = lambda old, new: self.useFixture(
            pvm_fixtures.fixtures.MonkeyPatch(old, new))
        self.glance = self.useFixture(
            pvm_fixtures.StreamingGlanceFixture(self))

    def test_download_iterates_chunks(self):
        size = 3 * pvm_fixtures.CHUNK_SIZE + 17
        image = self.glance.add_image(size)
        self.assertEqual(size, image['size'])
        chunks = self.glance.download(None, image['id'])
        self.assertIsInstance(chunks, types.GeneratorType)
        sizes = [len(c) for c in chunks]
        self.assertEqual([pvm_fixtures.CHUNK_SIZE] * 3 + [17], sizes)
        self.assertEqual([image['id']], self.glance.downloads)

    def test_pattern_differs_by_offset(self):
        first, second = list(pvm_fixtures.pattern_bytes(
            2 * pvm_fixtures.CHUNK_SIZE))
        self.assertNotEqual(first, second)

    def test_download_to_file_object_and_path(self):
        image = self.glance.add_image(1000, seed='x')
        buf = io.BytesIO()
        self.assertIsNone(self.glance.download(None, image['id'], data=buf))
        path = self.useFixture(pvm_fixtures.fixtures.TempDir()).join('img')
        self.glance.download(None, image['id'], dst_path=path)
        with open(path, 'rb') as f:
            self.assertEqual(buf.getvalue(), f.read())
        self.assertEqual(buf.getvalue(), self.glance.read_image(image['id']))

    def test_canned_image_streams_its_declared_size(self):
        image = self.glance.image1
        total = sum(len(c) for c in self.glance.download(None, image['id']))
        self.assertEqual(image['size'], total)

    def test_update_with_data_stores_file_not_memory(self):
        snap = self.glance.create(None, {'name': 'snap', 'status': 'queued',
                                         'disk_format': 'raw'})
        payload = b'abc' * 100000
        updated = self.glance.update(None, snap['id'], {'name': 'snap2'},
                                     data=io.BytesIO(payload))
        self.assertEqual(len(payload), updated['size'])
        self.assertEqual('active', updated['status'])
        self.assertEqual(hashlib.md5(payload).hexdigest(),
                         updated['checksum'])
        self.assertEqual({}, self.glance._imagedata)
        self.assertEqual(hashlib.sha256(payload).hexdigest(),
                         self.glance.image_digest(snap['id']))

    def test_zero_runs_are_stored_sparse(self):
        snap = self.glance.create(None, {'name': 'snap'})
        size = 64 * pvm_fixtures.CHUNK_SIZE
        data = b'head' + bytes(size - 8) + b'tail'
        self.glance.update(None, snap['id'], {}, data=io.BytesIO(data))
        self.assertEqual(size, self.glance.images[snap['id']]['size'])
        self.assertEqual(data, self.glance.read_image(snap['id']))
        self.assertEqual(b'head', self.glance.read_image(snap['id'], 4))
        blocks = os.stat(self.glance.data_path(snap['id'])).st_blocks
        self.assertLess(blocks * 512, size // 2)

    def test_update_with_chunk_iterator(self):
        snap = self.glance.create(None, {'name': 'snap'})
        self.glance.update(None, snap['id'], {}, data=iter([b'ab', b'', b'c']))
        self.assertEqual(b'abc', self.glance.read_image(snap['id']))

    def test_delete_removes_data(self):
        image = self.glance.add_image(10)
        self.glance.delete(None, image['id'])
        self.assertRaises(exception.ImageNotFound,
                          self.glance.read_image, image['id'])
        self.assertRaises(exception.ImageNotFound,
                          self.glance.download, None, image['id'])


class TestVncConsoleFixture(testtools.TestCase):

    def test_closer_of_an_unlisted_repeater_is_stopped(self):
        # The driver's terminal close stops a repeater (pypowervm forgets
        # it) whose closer already runs: it would call rmvterm against a
        # stopped simulator five minutes later.
        from pypowervm.tasks import vterm
        self.useFixture(pvm_fixtures.fixtures.MonkeyPatch(
            'nova_powervm.simulator.fixture.VtermCommandsFixture',
            lambda sim: pvm_fixtures.fixtures.Fixture()))
        closes = []
        self.useFixture(pvm_fixtures.fixtures.MonkeyPatch(
            'pypowervm.tasks.vterm._close_vterm_local',
            lambda adapter, uuid: closes.append(uuid)))
        with pvm_fixtures.VncConsoleFixture(None):
            killer = vterm._VNCKiller(None, 'lpar-uuid')
            self.addCleanup(killer.abort)
            killer.start()
            self.assertNotIn(killer,
                             vterm._VNC_LOCAL_PORT_TO_REPEATER.values())
        self.assertFalse(killer.is_alive())
        self.assertEqual([], closes)


class TestFCCinderFixture(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.cinder = self.useFixture(pvm_fixtures.FCCinderFixture(self))

    def test_connection_info_maps_initiators_to_targets(self):
        vol = self.cinder.add_fc_volume(['21000024ff649104'], lun=3)
        att = self.cinder.fake_attachment_create(None, vol, 'inst')
        connector = {'wwpns': ['c05076079cff0e56', 'c05076079cff0e57'],
                     'host': 'h'}
        info = self.cinder.fake_attachment_update(
            None, att['id'], connector)['connection_info']
        self.assertEqual('fibre_channel', info['driver_volume_type'])
        self.assertEqual(3, info['data']['target_lun'])
        self.assertEqual(vol, info['data']['volume_id'])
        self.assertEqual(
            {'c05076079cff0e56': ['21000024ff649104'],
             'c05076079cff0e57': ['21000024ff649104']},
            info['data']['initiator_target_map'])
        self.assertEqual('available',
                         self.cinder.fake_get(None, vol)['status'])
        self.cinder.fake_attachment_complete(None, att['id'])
        self.assertEqual('in-use', self.cinder.volumes[vol]['status'])
        self.cinder.fake_begin_detaching(None, vol)
        self.cinder.fake_attachment_delete(None, att['id'])
        self.assertEqual('available', self.cinder.volumes[vol]['status'])


class TestContentFingerprint(testtools.TestCase):
    """base.content_fingerprint: equal exactly when the bytes are equal."""

    def _file(self, data, sparse):
        path = os.path.join(self.useFixture(
            pvm_fixtures.fixtures.TempDir()).path, 'f')
        with open(path, 'wb') as f:
            for i in range(0, len(data), 4096):
                block = data[i:i + 4096]
                if sparse and not block.strip(b'\0'):
                    f.seek(len(block), os.SEEK_CUR)
                else:
                    f.write(block)
            f.truncate(len(data))
        return path

    def test_sparse_and_dense_copies_match_and_one_byte_differs(self):
        data = bytearray(3 << 20)
        data[70000:70100] = os.urandom(100)
        data[(2 << 20) + 5] = 7
        dense = self._file(bytes(data), sparse=False)
        fp = fm_base.content_fingerprint(dense)
        self.assertEqual((len(data), fp[1]), fp)
        self.assertEqual(fp, fm_base.content_fingerprint(
            self._file(bytes(data), sparse=True)))
        data[(3 << 20) - 1] = 1
        self.assertNotEqual(fp, fm_base.content_fingerprint(
            self._file(bytes(data), sparse=True)))
        self.assertNotEqual(fp, fm_base.content_fingerprint(
            self._file(bytes(data[:-1]), sparse=True)))

    def test_zeros_after(self):
        data = bytearray(1 << 20)
        data[100] = 1
        path = self._file(bytes(data), sparse=True)
        self.assertFalse(fm_base.zeros_after(path, 100))
        self.assertTrue(fm_base.zeros_after(path, 101))
