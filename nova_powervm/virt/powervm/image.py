"""Image data for the disk drivers: streaming downloads and cache naming.

Download side: :func:`image_stream` turns nova's image API download (an
iterator of chunks) into a file-like object that pypowervm's upload reads
piece by piece, so an image is never held whole in memory.  Helpers shared by
every disk driver that caches images on its backend: :func:`cached_image_name`
and :func:`disk_file_format`.  Upload side (snapshot): :func:`stream_to_image`
hands an open disk to the image API, which reads it in chunks.
"""
import contextlib
import hashlib
import os
import re
import threading

from nova import exception as nova_exc
from nova.image import glance
from oslo_log import log as logging
from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm import util as pvm_u
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import vios_file as pvm_vf

from nova_powervm.i18n import _
from nova_powervm.virt.powervm import pvm_private

LOG = logging.getLogger(__name__)

IMAGE_API = glance.API()

# Image disk formats the backends can take, as pypowervm file formats.
_FILE_FORMATS = {
    'raw': pvm_stg.FileFormatType.RAW,
    'qcow2': pvm_stg.FileFormatType.QCOW2,
}


class ImageStream(object):
    """Read-only file-like object over an iterator of byte chunks.

    Holds at most one chunk.  Checks at the end of the data that the byte
    count (and, when given, the MD5 checksum) is what the image service
    announced, so a truncated download fails the upload instead of leaving a
    short disk.
    """

    def __init__(self, chunks, image_id, size=None, checksum=None):
        self._chunks = iter(chunks)
        self._source = chunks
        self.image_id = image_id
        self.size = size
        self._checksum = checksum
        self._md5 = (hashlib.md5(usedforsecurity=False)  # nosec
                     if checksum else None)
        self._buf = b''
        self._pos = 0
        self.bytes_read = 0
        self._done = False

    def _next_chunk(self):
        """Load the next non-empty chunk; False at the end of the data."""
        for chunk in self._chunks:
            if chunk:
                self._buf = bytes(chunk)
                self._pos = 0
                return True
        self._finish()
        return False

    def _finish(self):
        if self._done:
            return
        self._done = True
        if self.size is not None and self.bytes_read != self.size:
            raise nova_exc.ImageUnacceptable(
                image_id=self.image_id,
                reason=_('the image service sent %(got)d bytes, expected '
                         '%(want)d') % {'got': self.bytes_read,
                                        'want': self.size})
        if self._md5 and self._md5.hexdigest() != self._checksum:
            raise nova_exc.ImageUnacceptable(
                image_id=self.image_id,
                reason=_('checksum mismatch: got %(got)s, expected '
                         '%(want)s') % {'got': self._md5.hexdigest(),
                                        'want': self._checksum})

    def read(self, size=-1):
        """Return up to ``size`` bytes (all remaining for a negative size)."""
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(1 << 20)
                if not part:
                    return b''.join(parts)
                parts.append(part)
        parts = []
        want = size
        while want > 0:
            if self._pos >= len(self._buf) and not self._next_chunk():
                break
            piece = self._buf[self._pos:self._pos + want]
            self._pos += len(piece)
            want -= len(piece)
            # Count before the next chunk is fetched: the end-of-data check
            # runs there.
            self.bytes_read += len(piece)
            if self._md5:
                self._md5.update(piece)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def close(self):
        """Release the download (closes the underlying response)."""
        close = getattr(self._source, 'close', None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def image_stream(context, image_id, size=None, checksum=None):
    """Stream an image's bytes from nova's image API.

    :param size: the image size in bytes if the caller knows it (saves a
        metadata read from the image service).
    :param checksum: (optional) the image's MD5 checksum, verified at the end.
    :return: ``(ImageStream, size_in_bytes)``.
    :raises ImageUnacceptable: the image has no data.
    """
    if size is None:
        size = IMAGE_API.get(context, image_id).get('size')
    if not size:
        raise nova_exc.ImageUnacceptable(
            image_id=image_id, reason=_('the image has no data'))
    chunks = IMAGE_API.download(context, image_id)
    if chunks is None:
        raise nova_exc.ImageUnacceptable(
            image_id=image_id,
            reason=_('the image service returned no data stream'))
    return ImageStream(chunks, image_id, size=size, checksum=checksum), size


def _meta_attr(image_meta, name):
    """An attribute of a nova ImageMeta (or dict), None when unset."""
    if isinstance(image_meta, dict):
        return image_meta.get(name)
    if image_meta.obj_attr_is_set(name):
        return getattr(image_meta, name)
    return None


def image_checksum(image_meta):
    """The image's MD5 checksum, or None when the image service gave none."""
    return _meta_attr(image_meta, 'checksum')


def disk_file_format(image_meta, allowed=('raw', 'qcow2')):
    """The pypowervm FileFormatType for the image's disk format.

    :raises ImageUnacceptable: the disk format is missing or not one of
        ``allowed``, naming the format and the accepted ones.
    """
    disk_format = _meta_attr(image_meta, 'disk_format')
    if disk_format not in allowed or disk_format not in _FILE_FORMATS:
        raise nova_exc.ImageUnacceptable(
            image_id=_meta_attr(image_meta, 'id'),
            reason=_('disk format %(fmt)s is not supported by the PowerVM '
                     'driver; use one of: %(ok)s') % {
                'fmt': disk_format, 'ok': ', '.join(allowed)})
    return _FILE_FORMATS[disk_format]


def cached_image_name(image, prefix,
                      max_len=pvm_const.MaxLen.FILENAME_DEFAULT):
    """Backend name of the cached copy of an image.

    Derived from the image id only, so the image cache manager can tell from
    an instance's ``image_ref`` which cached image it uses.

    :param image: an ImageMeta, an image dict or an image id.
    :param prefix: marks cached images among other disks (e.g. ``'i_'``).
    :param max_len: the backend's name limit (15 for volume-group virtual
        disks); the id (32 hex digits) is truncated to fit.
    """
    image_id = image if isinstance(image, str) else _meta_attr(image, 'id')
    return pvm_u.sanitize_file_name_for_api(
        image_id.replace('-', ''), prefix=prefix, max_len=max_len)


# -- upload side (snapshot) -------------------------------------------------

def snapshot_metadata(instance):
    """Image properties of a snapshot of ``instance``'s boot disk (raw)."""
    return {
        'status': 'active',
        'disk_format': 'raw',
        'container_format': 'bare',
        'properties': {
            'image_location': 'snapshot',
            'image_state': 'available',
            'owner_id': instance.project_id,
        },
    }


@contextlib.contextmanager
def _readable(path):
    """Make ``path`` (a block device) readable by this process meanwhile."""
    if os.access(path, os.R_OK):
        yield
        return
    import nova.privsep.path
    owner = os.stat(path).st_uid
    nova.privsep.path.chown(path, uid=os.getuid())
    try:
        yield
    finally:
        nova.privsep.path.chown(path, uid=owner)


class _CheckedReader(object):
    """A file's ``read`` that calls ``check()`` first (it may raise)."""

    def __init__(self, stream, check):
        self._stream = stream
        self._check = check

    def read(self, size=-1):
        self._check()
        return self._stream.read(size)


def stream_to_image(context, image_id, metadata, disk_path, check=None):
    """Upload the bytes of ``disk_path`` as the data of image ``image_id``.

    The open file is handed to nova's image API, which reads it in chunks:
    the disk is never held in memory.  Properties nova already set on the
    image are kept.

    :param check: called before each read; what it raises fails the upload
        (the image service then does not make the image active).
    """
    LOG.info('Uploading %(path)s to image %(img)s.',
             {'path': disk_path, 'img': image_id})
    with _readable(disk_path):
        with open(disk_path, 'rb') as stream:
            data = stream if check is None else _CheckedReader(stream, check)
            IMAGE_API.update(context, image_id, metadata, data=data,
                             purge_props=False)


def remove_upload_metadata(file_w):
    """Delete an upload's File metadata pypowervm failed to remove.

    pypowervm's upload deletes the REST server's File record afterwards but
    only logs a failure and returns the record for a retry; left there, such
    records count against the server's limit of 100 files.  A failure here
    is logged, not raised (the upload itself succeeded).

    :param file_w: the File wrapper pypowervm returned, or None (nothing to
        do).
    """
    if file_w is None:
        return
    try:
        file_w.adapter.delete(file_w.schema_type, root_id=file_w.uuid,
                              service='web')
    except pvm_exc.HttpNotFound:
        pass
    except Exception:
        LOG.warning('Upload metadata (File %s) could not be removed from the '
                    'REST server; remove it manually.', file_w.uuid,
                    exc_info=True)


def remove_upload_files(adapter, name, vios_uuid):
    """Delete the File records of a failed upload, found by name.

    pypowervm names an upload's File after the disk or media it fills.
    When the answer to the File's creation is lost (the server made it),
    pypowervm does not know it, so it cannot delete it; left there, such
    records count against the server's limit of 100 files.  Only records
    of this name targeting ``vios_uuid`` go (another host's upload of the
    same image goes through its own VIOS).  One GET, plus a DELETE each.
    Best effort: a failure is logged.
    """
    try:
        files = pvm_vf.File.wrap(adapter.read(pvm_vf.File.schema_type,
                                              service='web'))
        for file_w in files:
            if (file_w.file_name == name and
                    (file_w.vios_uuid or '').upper() == vios_uuid.upper()):
                LOG.info('Deleting File %(uuid)s of the failed upload of '
                         '%(name)s.', {'uuid': file_w.uuid, 'name': name})
                remove_upload_metadata(file_w)
    except Exception:
        LOG.warning('Could not look for File records of the failed upload '
                    'of %s; remove them manually.', name, exc_info=True)


def retry_upload(adapter, upload, between=None, what='upload'):
    """Run ``upload()``, again when a retry can fix its failure.

    Retried (at most twice more): the REST session was renewed while it ran
    (pypowervm re-sends a request after a re-logon, but an upload without
    its data), or HTTP 412 (another update of the volume group won the etag
    race while the upload created its disk; nothing was created).

    :param upload: makes the whole upload, opening its data stream anew.
    :param between: clean-up run after a failed attempt that is retried
        (the caller cleans up after the last one).
    :return: what ``upload()`` returns.
    """
    for attempt in range(1, 4):
        session_id = pvm_private.session_identity(adapter.session)
        try:
            return upload()
        except Exception as e:
            renewed = (pvm_private.session_identity(adapter.session) !=
                       session_id)
            status = getattr(getattr(e, 'response', None), 'status', None)
            if attempt == 3 or not (renewed or status == 412):
                raise
            LOG.warning('Retrying the %(what)s: %(why)s (%(err)s).',
                        {'what': what, 'err': e,
                         'why': 'the REST session was renewed meanwhile'
                         if renewed else 'concurrent update (HTTP 412)'})
            if between is not None:
                between()


class FailedWrites(object):
    """An Adapter helper noting the writes that failed, per thread.

    pypowervm's request helpers (``Adapter(helpers=...)``, the public
    mechanism of ``pypowervm.helpers``) wrap every request of an adapter.
    Inside :meth:`recording`, this one notes each DELETE that raised (not a
    404): what pypowervm's SSP upload failed to delete and only logged (its
    marker LU, a failed image LU, the File record); and the name of each
    logical unit whose creation (PUT) raised: it may exist all the same
    when only the answer was lost.
    """

    class Record(object):
        def __init__(self):
            self.deletes = []      # REST paths
            self.lu_creates = []   # LU names

    def __init__(self):
        self._local = threading.local()

    def __call__(self, func):
        def request(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except pvm_exc.HttpNotFound:
                raise
            except pvm_exc.Error:
                self._note(args, kwargs)
                raise
        return request

    def _note(self, args, kwargs):
        rec = getattr(self._local, 'record', None)
        if rec is None:
            return
        method = args[0] if args else kwargs.get('method')
        path = args[1] if len(args) > 1 else kwargs.get('path')
        if not path:
            return
        path = path.split('?')[0]
        if method == 'DELETE':
            rec.deletes.append(path)
        elif method == 'PUT' and path.endswith('/LogicalUnit'):
            name = _lu_name(kwargs.get('body'))
            if name:
                rec.lu_creates.append(name)

    @contextlib.contextmanager
    def recording(self):
        """Yield the Record the failed writes of this thread go to."""
        self._local.record = self.Record()
        try:
            yield self._local.record
        finally:
            self._local.record = None


_UNIT_NAME = re.compile(r'<(?:[\w.-]+:)?UnitName\b[^>]*>([^<]+)</')


def _lu_name(body):
    """UnitName in a LogicalUnit creation request body (or None).

    The body is the XML pypowervm built (``LU.bld``); a pattern finds the
    one element without parsing it again.
    """
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    match = _UNIT_NAME.search(body or '')
    return match.group(1).strip() if match else None


def recording_adapter(adapter, helper):
    """An Adapter on ``adapter``'s session with ``helper`` added last."""
    return pvm_adpt.Adapter(adapter.session,
                            helpers=list(adapter.helpers or []) + [helper])
