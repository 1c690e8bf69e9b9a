"""Unit tests for image.py (download side and naming)."""
import hashlib
from unittest import mock

from nova import exception as nova_exc
from nova import objects
from nova import test
from pypowervm import exceptions as pvm_exc

from nova_powervm.virt.powervm import image

IMAGE_ID = '7b3a3c2e-8d2a-4f0e-a6ad-2c1c1a0e9f11'


class Chunks(object):
    """An iterator of chunks that records how far it was consumed."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.taken = 0
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        if self.taken >= len(self.chunks):
            raise StopIteration
        self.taken += 1
        return self.chunks[self.taken - 1]

    def close(self):
        self.closed = True


class TestImageStream(test.NoDBTestCase):

    def test_reads_across_chunks(self):
        src = Chunks([b'abc', b'', b'defgh', b'i'])
        stream = image.ImageStream(src, IMAGE_ID, size=9)
        self.assertEqual(b'ab', stream.read(2))
        self.assertEqual(b'cdef', stream.read(4))
        self.assertEqual(b'ghi', stream.read(100))
        self.assertEqual(b'', stream.read(5))
        self.assertEqual(9, stream.bytes_read)

    def test_streams_lazily(self):
        # Only the chunks needed for a read are pulled from the download.
        src = Chunks([b'x' * 10] * 100)
        stream = image.ImageStream(src, IMAGE_ID, size=1000)
        stream.read(15)
        self.assertEqual(2, src.taken)
        self.assertEqual(b'x' * 5, stream.read(5))
        self.assertEqual(2, src.taken)

    def test_read_all(self):
        stream = image.ImageStream(iter([b'ab', b'cd']), IMAGE_ID, size=4)
        self.assertEqual(b'abcd', stream.read())

    def test_short_download_fails(self):
        stream = image.ImageStream(iter([b'abc']), IMAGE_ID, size=10)
        ex = self.assertRaises(nova_exc.ImageUnacceptable, stream.read, 100)
        self.assertIn('3 bytes, expected 10', str(ex))

    def test_long_download_fails(self):
        stream = image.ImageStream(iter([b'abcdef']), IMAGE_ID, size=3)
        self.assertEqual(b'abcdef', stream.read(6))
        self.assertRaises(nova_exc.ImageUnacceptable, stream.read, 1)

    def test_checksum(self):
        good = hashlib.md5(b'abcd', usedforsecurity=False).hexdigest()
        stream = image.ImageStream(iter([b'ab', b'cd']), IMAGE_ID, size=4,
                                   checksum=good)
        self.assertEqual(b'abcd', stream.read(10))
        stream = image.ImageStream(iter([b'ab', b'cX']), IMAGE_ID, size=4,
                                   checksum=good)
        ex = self.assertRaises(nova_exc.ImageUnacceptable, stream.read, 10)
        self.assertIn('checksum mismatch', str(ex))

    def test_close_closes_download(self):
        src = Chunks([b'a'])
        with image.ImageStream(src, IMAGE_ID, size=1):
            pass
        self.assertTrue(src.closed)


@mock.patch.object(image, 'IMAGE_API')
class TestImageStreamFactory(test.NoDBTestCase):

    def test_size_given(self, mock_api):
        mock_api.download.return_value = iter([b'abcd'])
        stream, size = image.image_stream('ctx', IMAGE_ID, size=4)
        self.assertEqual(4, size)
        self.assertEqual(b'abcd', stream.read(4))
        mock_api.download.assert_called_once_with('ctx', IMAGE_ID)
        mock_api.get.assert_not_called()

    def test_size_looked_up(self, mock_api):
        mock_api.get.return_value = {'size': 2}
        mock_api.download.return_value = iter([b'ab'])
        stream, size = image.image_stream('ctx', IMAGE_ID)
        self.assertEqual(2, size)
        mock_api.get.assert_called_once_with('ctx', IMAGE_ID)

    def test_no_data(self, mock_api):
        mock_api.get.return_value = {'size': 0}
        self.assertRaises(nova_exc.ImageUnacceptable, image.image_stream,
                          'ctx', IMAGE_ID)
        mock_api.download.assert_not_called()

    def test_download_returns_nothing(self, mock_api):
        mock_api.download.return_value = None
        self.assertRaises(nova_exc.ImageUnacceptable, image.image_stream,
                          'ctx', IMAGE_ID, size=4)


class TestNaming(test.NoDBTestCase):

    def _meta(self, **kw):
        return objects.ImageMeta.from_dict(dict(id=IMAGE_ID, **kw))

    def test_disk_file_format(self):
        self.assertEqual('raw',
                         image.disk_file_format(self._meta(disk_format='raw')))
        self.assertEqual('qcow2', image.disk_file_format(
            self._meta(disk_format='qcow2')))
        ex = self.assertRaises(nova_exc.ImageUnacceptable,
                               image.disk_file_format,
                               self._meta(disk_format='vhd'))
        self.assertIn('vhd', str(ex))
        self.assertIn(IMAGE_ID, str(ex))
        self.assertRaises(nova_exc.ImageUnacceptable, image.disk_file_format,
                          self._meta())
        self.assertRaises(nova_exc.ImageUnacceptable, image.disk_file_format,
                          self._meta(disk_format='qcow2'), allowed=('raw',))

    def test_cached_image_name(self):
        meta = self._meta()
        self.assertEqual('i_7b3a3c2e8d2a4',
                         image.cached_image_name(meta, 'i_', max_len=15))
        self.assertEqual('image_7b3a3c2e8d2a4f0ea6ad2c1c1a0e9f11',
                         image.cached_image_name(IMAGE_ID, 'image_'))
        self.assertEqual(image.cached_image_name({'id': IMAGE_ID}, 'i_'),
                         image.cached_image_name(meta, 'i_'))

    def test_image_checksum(self):
        self.assertIsNone(image.image_checksum(self._meta()))
        self.assertEqual('abc', image.image_checksum(
            self._meta(checksum='abc')))


class TestRemoveUploadMetadata(test.NoDBTestCase):
    """Retrying the File clean-up pypowervm's upload left to the caller."""

    def test_none_is_nothing(self):
        image.remove_upload_metadata(None)

    def test_deletes_the_file_record(self):
        file_w = mock.Mock(schema_type='File', uuid='f-1')
        image.remove_upload_metadata(file_w)
        file_w.adapter.delete.assert_called_once_with(
            'File', root_id='f-1', service='web')

    def test_gone_or_failing_is_not_raised(self):
        resp = mock.Mock(status=404, body=b'', reason='Not Found',
                         reqmethod='DELETE', reqpath='/rest/api/web/File/f')
        for error, warned in ((pvm_exc.HttpNotFound(resp), False),
                              (ValueError('boom'), True)):
            file_w = mock.Mock(schema_type='File', uuid='f-1')
            file_w.adapter.delete.side_effect = error
            with mock.patch.object(image.LOG, 'warning') as warn:
                self.assertIsNone(image.remove_upload_metadata(file_w))
            # The delete was attempted; only a real failure is reported,
            # naming the record to remove by hand.
            file_w.adapter.delete.assert_called_once_with(
                'File', root_id='f-1', service='web')
            self.assertEqual(warned, warn.called)
            if warned:
                self.assertEqual('f-1', warn.call_args[0][1])
            file_w.adapter.delete.assert_called_once()


class TestRemoveUploadFiles(test.NoDBTestCase):
    """File records of a failed upload, found by name and VIOS."""

    def _file(self, name, vios, uuid):
        return mock.Mock(file_name=name, vios_uuid=vios, uuid=uuid,
                         schema_type='File', adapter=self.adpt)

    def setUp(self):
        super().setUp()
        self.adpt = mock.Mock()
        self.files = [self._file('img', 'v-1', 'f1'),
                      self._file('img', 'V-2', 'f2'),
                      self._file('other', 'v-1', 'f3'),
                      self._file('img', 'V-1', 'f4')]
        p = mock.patch('pypowervm.wrappers.vios_file.File.wrap',
                       return_value=self.files)
        p.start()
        self.addCleanup(p.stop)

    def test_deletes_only_matching(self):
        image.remove_upload_files(self.adpt, 'img', 'v-1')
        self.adpt.read.assert_called_once_with('File', service='web')
        self.assertEqual(
            [mock.call('File', root_id='f1', service='web'),
             mock.call('File', root_id='f4', service='web')],
            self.adpt.delete.call_args_list)

    def test_failure_logged_not_raised(self):
        self.adpt.read.side_effect = pvm_exc.ConnectionError('down')
        image.remove_upload_files(self.adpt, 'img', 'v-1')
        self.adpt.delete.assert_not_called()


class TestRetryUpload(test.NoDBTestCase):
    """Uploads retried only when a retry can fix them."""

    def setUp(self):
        super().setUp()
        self.adapter = mock.Mock()
        self.adapter.session._sessToken = 'tok1'
        self.between = mock.Mock()

    @staticmethod
    def _http_error(status):
        resp = mock.Mock(status=status, body=b'', reason='x',
                         reqmethod='POST', reqpath='/rest/api/uom/x')
        return pvm_exc.HttpError(resp)

    def test_success_once(self):
        upload = mock.Mock(return_value='done')
        self.assertEqual('done', image.retry_upload(
            self.adapter, upload, between=self.between))
        upload.assert_called_once_with()
        self.between.assert_not_called()

    def test_other_failure_not_retried(self):
        upload = mock.Mock(side_effect=self._http_error(500))
        self.assertRaises(pvm_exc.HttpError, image.retry_upload,
                          self.adapter,
                          upload, between=self.between)
        upload.assert_called_once_with()
        self.between.assert_not_called()

    def test_412_retried(self):
        upload = mock.Mock(side_effect=[self._http_error(412), 'done'])
        self.assertEqual('done', image.retry_upload(
            self.adapter, upload, between=self.between))
        self.assertEqual(2, upload.call_count)
        self.between.assert_called_once_with()

    def test_session_renewed_retried(self):
        def renew_and_fail():
            self.adapter.session._sessToken = 'tok2'
            raise self._http_error(400)
        calls = []

        def fake():
            calls.append(1)
            if len(calls) == 1:
                renew_and_fail()
            return 'done'
        self.assertEqual('done', image.retry_upload(
            self.adapter, fake, between=self.between))
        self.assertEqual(2, len(calls))

    def test_gives_up_after_three(self):
        upload = mock.Mock(side_effect=self._http_error(412))
        self.assertRaises(pvm_exc.HttpError, image.retry_upload,
                          self.adapter,
                          upload, between=self.between)
        self.assertEqual(3, upload.call_count)
        self.assertEqual(2, self.between.call_count)


class TestFailedWrites(test.NoDBTestCase):
    """The helper notes failed writes while recording, in its thread."""

    def setUp(self):
        super().setUp()
        self.helper = image.FailedWrites()
        self.calls = []

    def _server(self, status=None, error=None):
        def request(method, path, *args, **kwargs):
            self.calls.append((method, path))
            if error is not None:
                raise error
            if status:
                resp = mock.Mock(status=status, body=b'', reason='x',
                                 reqmethod=method, reqpath=path)
                raise (pvm_exc.HttpNotFound(resp) if status == 404 else
                       pvm_exc.HttpError(resp))
            return 'resp'
        return self.helper(request)

    def test_records_failed_deletes_only(self):
        with self.helper.recording() as failed:
            self.assertEqual('resp', self._server()('DELETE', '/a'))
            self.assertRaises(pvm_exc.HttpError, self._server(500), 'PUT',
                              '/b')
            self.assertRaises(pvm_exc.HttpNotFound, self._server(404),
                              'DELETE', '/c')
            self.assertRaises(pvm_exc.HttpError, self._server(500),
                              'DELETE', '/rest/api/web/File/f1?x=1')
            self.assertRaises(pvm_exc.ConnectionError, self._server(
                error=pvm_exc.ConnectionError('gone')), 'DELETE', '/d')
            self.assertRaises(ValueError, self._server(
                error=ValueError('not a REST error')), 'DELETE', '/e')
        self.assertEqual(['/rest/api/web/File/f1', '/d'], failed.deletes)
        self.assertEqual([], failed.lu_creates)
        # Every request went through to the server.
        self.assertEqual(6, len(self.calls))

    def test_records_failed_lu_creations_by_name(self):
        body = ('<uom:LogicalUnit xmlns:uom="u"><uom:UnitCapacity>1'
                '</uom:UnitCapacity><uom:UnitName>part1234abcdimage_x'
                '</uom:UnitName></uom:LogicalUnit>').encode()
        with self.helper.recording() as failed:
            self.assertRaises(
                pvm_exc.ConnectionError,
                self._server(error=pvm_exc.ConnectionError('lost')), 'PUT',
                '/rest/api/uom/Tier/t/LogicalUnit', body=body)
            # Not an LU creation, or no name: nothing to note.
            self.assertRaises(pvm_exc.HttpError, self._server(500), 'PUT',
                              '/rest/api/web/File', body=body)
            self.assertRaises(pvm_exc.HttpError, self._server(500), 'PUT',
                              '/rest/api/uom/Tier/t/LogicalUnit', body=b'<x/>')
        self.assertEqual(['part1234abcdimage_x'], failed.lu_creates)
        self.assertEqual([], failed.deletes)

    def test_not_recording_notes_nothing(self):
        self.assertRaises(pvm_exc.HttpError, self._server(500), 'DELETE',
                          '/a')
        with self.helper.recording() as failed:
            pass
        self.assertEqual([], failed.deletes)

    def test_other_threads_not_recorded(self):
        import threading
        with self.helper.recording() as failed:
            t = threading.Thread(target=lambda: self.assertRaises(
                pvm_exc.HttpError, self._server(500), 'DELETE', '/x'))
            t.start()
            t.join()
        self.assertEqual([], failed.deletes)

    def test_recording_adapter_adds_the_helper_last(self):
        first = mock.Mock()
        adapter = mock.Mock(helpers=[first])
        rec = image.recording_adapter(adapter, self.helper)
        self.assertIs(adapter.session, rec.session)
        self.assertEqual([first, self.helper], rec.helpers)
        self.assertEqual([first], adapter.helpers)
