"""The file upload protocol (``/rest/api/web/File``).

pypowervm's ``upload_new_vdisk`` / ``upload_lu`` / ``upload_vopt``:

1. ``PUT /rest/api/web/File`` with a ``File`` (Filename, FileEnumType
   ``BROKERED_DISK_IMAGE`` naming the target disk's UDID, or
   ``BROKERED_MEDIA_ISO``, TargetVirtualIOServerUUID, optional
   ExpectedFileSizeInBytes); the server fills FileUUID.
2. ``PUT /rest/api/web/File/contents/<FileUUID>`` (octet-stream, usually
   chunked): the bytes are streamed to a file in the simulator's data
   directory, never held in memory.  When complete, a disk image becomes the
   target disk's (or LU's) contents; an ISO becomes a new virtual optical
   media in the repository of the target VIOS.  A short or failed body stores
   nothing.
3. ``DELETE /rest/api/web/File/<uuid>`` removes the metadata (generic).
"""
import os
import time

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import wire
from nova_powervm.simulator import xmlutil as xu

DISK_IMAGE = 'BROKERED_DISK_IMAGE'
MEDIA_ISO = 'BROKERED_MEDIA_ISO'
FILE_ORDER = ('Filename', 'DateModified', 'InternetMediaType', 'FileUUID',
              'ExpectedFileSizeInBytes', 'CurrentFileSizeInBytes',
              'FileEnumType', 'TargetVirtualIOServerUUID',
              'TargetDeviceUniqueDeviceID', 'AssetFile', 'SHA256')
MAX_VOPT_NAME = 37

reg.register_type('File')


def _now_ms():
    return str(int(time.time() * 1000))


def find_target(sim, udid):
    """(kind, name) of the disk or LU with this UDID, or None."""
    for kind, name, sudid in stg.all_storage(sim):
        if sudid == udid and kind != 'VirtualOpticalMedia':
            return kind, name
    return None


@reg.on_create('File')
def _file_create(sim, obj, ctx):
    el = obj.element
    name = xu.text(el, 'Filename')
    if not name:
        raise errors.BadRequest('A File needs a Filename')
    ftype = xu.text(el, 'FileEnumType')
    if ftype not in (DISK_IMAGE, MEDIA_ISO):
        raise errors.BadRequest('Unsupported FileEnumType %r (expected %s or '
                                '%s)' % (ftype, DISK_IMAGE, MEDIA_ISO))
    vios_uuid = xu.text(el, 'TargetVirtualIOServerUUID')
    vios = sim.store.get('VirtualIOServer', vios_uuid)
    if vios is None:
        raise errors.BadRequest('TargetVirtualIOServerUUID %r is not a '
                                'Virtual I/O Server' % vios_uuid)
    size = xu.text(el, 'ExpectedFileSizeInBytes')
    if size is not None and (not size.isdigit()):
        raise errors.BadRequest('ExpectedFileSizeInBytes %r is not a size'
                                % size)
    if ftype == DISK_IMAGE:
        udid = xu.text(el, 'TargetDeviceUniqueDeviceID')
        if not udid or find_target(sim, udid) is None:
            raise errors.BadRequest('TargetDeviceUniqueDeviceID %r is not a '
                                    'virtual disk or logical unit' % udid)
    else:
        if len(name) > MAX_VOPT_NAME:
            raise errors.BadRequest('Media name %s is longer than %d '
                                    'characters' % (name, MAX_VOPT_NAME))
        if stg.repo_vg(sim, vios.key) is None:
            raise errors.BadRequest('Virtual I/O Server %s has no virtual '
                                    'media repository'
                                    % vios.text('PartitionName'))
        if stg.find_media(sim, vios.key, name)[1] is not None:
            raise errors.SimError(409, 'Virtual optical media %s already '
                                  'exists' % name)
    stg.ordered_set(el, 'DateModified', _now_ms(), FILE_ORDER)
    stg.ordered_set(el, 'InternetMediaType', xu.text(
        el, 'InternetMediaType') or 'application/octet-stream', FILE_ORDER)
    stg.ordered_set(el, 'FileUUID', obj.uuid, FILE_ORDER)
    stg.ordered_set(el, 'CurrentFileSizeInBytes', '0', FILE_ORDER)


def _file_by_id(sim, fid):
    obj = sim.store.get('File', fid)
    if obj is not None:
        return obj
    for o in sim.store.of_type('File'):
        if o.text('FileUUID') == fid:
            return o
    return None


def _drain(req):
    for _chunk in req.iter_body():
        pass


@reg.route('PUT', r'^/rest/api/web/File/contents/([^/]+)$')
@reg.route('POST', r'^/rest/api/web/File/contents/([^/]+)$')
def _upload(sim, req, match):
    fid = match.group(1)
    with sim.lock:
        busy = sim.extra.setdefault('stg_uploading', set())
        fobj = _file_by_id(sim, fid)
        state = ('missing' if fobj is None else
                 'busy' if fid in busy else 'ok')
        if state == 'ok':
            busy.add(fid)
            expected = fobj.text('ExpectedFileSizeInBytes')
    if state != 'ok':
        _drain(req)
        if state == 'missing':
            raise errors.NotFound('File %s not found' % fid)
        raise errors.SimError(409, 'File %s is being uploaded' % fid)
    path = stg.new_blob_path(sim)
    size = 0
    try:
        with open(path, 'wb') as out:
            for chunk in req.iter_body():
                out.write(chunk)
                size += len(chunk)
        with sim.lock:
            fobj = _file_by_id(sim, fid)
            if fobj is None:
                raise errors.NotFound('File %s was deleted during the upload'
                                      % fid)
            if expected and int(expected) != size:
                raise errors.BadRequest(
                    'File %s: expected %s bytes, received %d'
                    % (fobj.text('Filename'), expected, size))
            _complete(sim, fobj, path, size)
            path = None
    finally:
        with sim.lock:
            busy.discard(fid)
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
    return wire.Response(204)


def _complete(sim, fobj, path, size):
    """Attach uploaded content (under sim.lock)."""
    fobj.set('CurrentFileSizeInBytes', str(size))
    fobj.set('DateModified', _now_ms())
    sim.store.touch(fobj)
    vios = sim.store.get('VirtualIOServer',
                         fobj.text('TargetVirtualIOServerUUID'))
    if fobj.text('FileEnumType') == DISK_IMAGE:
        udid = fobj.text('TargetDeviceUniqueDeviceID')
        if find_target(sim, udid) is None:
            raise errors.SimError(409, 'The target device %s of the upload '
                                  'no longer exists' % udid)
        stg.set_content(sim, udid, path)
        return
    if vios is None:
        raise errors.SimError(409, 'The target Virtual I/O Server is gone')
    name = fobj.text('Filename')
    vg = stg.repo_vg(sim, vios.key)
    if vg is None:
        raise errors.SimError(409, 'No media repository on %s'
                              % vios.text('PartitionName'))
    if stg.find_media(sim, vios.key, name)[1] is not None:
        raise errors.SimError(409, 'Virtual optical media %s already exists'
                              % name)
    repo = xu.findall(vg.element, 'MediaRepositories/'
                                  'VirtualMediaRepository')[0]
    om = xu.child(repo, 'OpticalMedia')
    if om is None:
        om = stg.sub(repo, 'OpticalMedia')
        repo.insert(0, om)
    m = stg.sub(om, 'VirtualOpticalMedia', attrib={'schemaVersion': 'V1_0'})
    xu.make(m, 'MediaName', name)
    xu.make(m, 'MediaUDID', '0e' + name)
    xu.make(m, 'MountType', 'rw')
    xu.make(m, 'Size', '%.6f' % (size / stg.GB))
    stg.set_content(sim, '0e' + name, path)
    sim.store.touch(vg)
    stg.sync_vios_view(sim, vios)


@reg.snapshot('files')
def _snap_files(sim):
    return {o.uuid: {'name': o.text('Filename'),
                     'type': o.text('FileEnumType'),
                     'size': int(o.text('CurrentFileSizeInBytes') or 0)}
            for o in sim.store.of_type('File')}
