"""File-backed (file I/O) and Ceph RBD virtual disks mapped by a VIOS.

pypowervm maps them with a ``VirtualDisk`` storage element that no volume
group holds (``stor.FileIO.bld_ref``: ``DiskName`` = the file's path,
``VirtualDiskType`` ``File``; ``stor.RBD.bld_ref``: ``DiskName`` =
``pool/image``, ``VirtualDiskType`` ``RBD``, ``BackStoreType`` ``user:rbd``,
optional ``RbdUser``).  A new mapping of one is refused (400) unless

* file: the file exists on that VIOS (``add_volume_file``; by default on
  every VIOS, as an NFS or GPFS mount is);
* RBD: the pool exists on that VIOS's Ceph configuration
  (``add_rbd_pool``), holds the image (``add_rbd_image``) and, when the
  pool requires a Ceph user, the mapping names it.

The mapped element gets a UDID (stable per file / image) and the current
size; the ``RBDExists`` job (``tasks.hdisk.rbd_exists``) answers
``exists``.  Contents: ``volume_file_path`` / ``rbd_image_path``; a
mapped disk shows a new size after ``resize_volume_file`` /
``resize_rbd_image``.
"""
import hashlib

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import xmlutil as xu

FILE, RBD = 'File', 'RBD'


def _files(sim):
    return sim.extra.setdefault('vol_files', {})


def _pools(sim):
    return sim.extra.setdefault('rbd_pools', {})


def udid_of(kind, name):
    return ('0f' if kind == FILE else '0r') + hashlib.sha1(
        name.encode(), usedforsecurity=False).hexdigest()[:30]


def _on(entry, vios):
    return entry['vioses'] is None or vios.text(
        'PartitionName') in entry['vioses']


@reg.control('add_volume_file')
def add_volume_file(sim, path, gb=1, vioses=None):
    """Create the volume file ``path`` (seen by ``vioses``: None = all)."""
    with sim.lock:
        _files(sim)[path] = {'gb': float(gb), 'vioses': vioses}
        stg.whole_content_path(sim, udid_of(FILE, path), int(gb * stg.GB))


@reg.control('remove_volume_file')
def remove_volume_file(sim, path):
    with sim.lock:
        _files(sim).pop(path, None)


@reg.control('resize_volume_file')
def resize_volume_file(sim, path, gb):
    """Grow a volume file (what Cinder's NFS extend does)."""
    with sim.lock:
        _files(sim)[path]['gb'] = float(gb)
        _refresh(sim, FILE, path, gb)


@reg.control('volume_file_path')
def volume_file_path(sim, path):
    """The simulator's file holding the contents of volume file ``path``."""
    with sim.lock:
        gb = _files(sim)[path]['gb']
        return stg.whole_content_path(sim, udid_of(FILE, path),
                                      int(gb * stg.GB))


@reg.control('add_rbd_pool')
def add_rbd_pool(sim, pool, user=None, vioses=None):
    """A Ceph pool the VIOSes (``vioses``: None = all) can reach.

    :param user: the Ceph user the pool requires (None: any).
    """
    with sim.lock:
        _pools(sim)[pool] = {'images': {}, 'user': user, 'vioses': vioses}


@reg.control('add_rbd_image')
def add_rbd_image(sim, pool, image, gb=1):
    with sim.lock:
        _pools(sim)[pool]['images'][image] = float(gb)
        stg.whole_content_path(sim, udid_of(RBD, '%s/%s' % (pool, image)),
                               int(gb * stg.GB))


@reg.control('resize_rbd_image')
def resize_rbd_image(sim, pool, image, gb):
    """Grow an RBD image (what Cinder's RBD extend does)."""
    with sim.lock:
        _pools(sim)[pool]['images'][image] = float(gb)
        _refresh(sim, RBD, '%s/%s' % (pool, image), gb)


@reg.control('rbd_image_path')
def rbd_image_path(sim, pool, image):
    with sim.lock:
        gb = _pools(sim)[pool]['images'][image]
        return stg.whole_content_path(
            sim, udid_of(RBD, '%s/%s' % (pool, image)), int(gb * stg.GB))


def _refresh(sim, kind, name, gb):
    """Mapped elements show the new size (the VIOS re-reads the file)."""
    udid = udid_of(kind, name)
    for vios in stg.vioses(sim):
        changed = False
        for el in xu.findall(vios.element, 'VirtualSCSIMappings/'
                             'VirtualSCSIMapping/Storage/VirtualDisk'):
            if xu.text(el, 'UniqueDeviceID') == udid:
                xu.set_text(el, 'DiskCapacity', stg.fmt(gb))
                changed = True
        if changed:
            sim.store.touch(vios)


def _rbd_lookup(sim, vios, name):
    """(pool entry, size GB) of 'pool/image'; raises BadRequest."""
    pool_name, _sep, image = name.partition('/')
    pool = _pools(sim).get(pool_name)
    if pool is None or not _on(pool, vios):
        raise errors.BadRequest('RBD pool %s does not exist on Virtual I/O '
                                'Server %s' % (pool_name,
                                               vios.text('PartitionName')))
    if image not in pool['images']:
        raise errors.BadRequest('RBD image %s does not exist in pool %s'
                                % (image, pool_name))
    return pool, pool['images'][image]


def resolve(sim, vios, stg_el):
    """The server's element for a file or RBD reference, or None.

    None: the reference is not a file/RBD one (a volume group disk).
    :raises BadRequest: the file, pool or image does not exist there.
    """
    kind = xu.text(stg_el, 'VirtualDiskType')
    name = xu.text(stg_el, 'DiskName') or ''
    if kind == FILE and name.startswith('/'):
        entry = _files(sim).get(name)
        if entry is None or not _on(entry, vios):
            raise errors.BadRequest('File %s does not exist on Virtual I/O '
                                    'Server %s' % (
                                        name, vios.text('PartitionName')))
        gb = entry['gb']
        backstore = xu.text(stg_el, 'BackStoreType') or 'fileio'
    elif kind == RBD:
        pool, gb = _rbd_lookup(sim, vios, name)
        user = xu.text(stg_el, 'RbdUser')
        if pool['user'] and user != pool['user']:
            raise errors.BadRequest('Ceph user %r may not access RBD pool '
                                    '%s' % (user, name.partition('/')[0]))
        backstore = 'user:rbd'
    else:
        return None
    out = stg.new_el('VirtualDisk')
    for key, val in (('DiskCapacity', stg.fmt(gb)), ('DiskLabel', name),
                     ('DiskName', name),
                     ('UniqueDeviceID', udid_of(kind, name)),
                     ('VirtualDiskType', kind), ('BackStoreType', backstore),
                     ('RbdUser', xu.text(stg_el, 'RbdUser'))):
        if val is not None:
            stg.ordered_set(out, key, val, stg.VDISK_ORDER)
    return out


@reg.job('VirtualIOServer', 'RBDExists')
def _rbd_exists(sim, vios, params, ctx):
    name = params.get('name') or ''
    if '/' not in name:
        raise errors.JobFailure('RBDExists: name %r is not pool/image'
                                % name)
    try:
        _rbd_lookup(sim, vios, name)
    except errors.BadRequest:
        return {'exists': 'false'}
    return {'exists': 'true'}


@reg.snapshot('backed_disks')
def _snap(sim):
    """{'files': {path: GB}, 'rbd': {pool/image: GB}}."""
    return {'files': {p: e['gb'] for p, e in _files(sim).items()},
            'rbd': {'%s/%s' % (p, i): gb for p, e in _pools(sim).items()
                    for i, gb in e['images'].items()}}
