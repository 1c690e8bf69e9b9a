"""Volume groups, virtual disks, virtual optical media and disk contents.

Seeded on every VIOS: ``rootvg`` (vios1's holds the virtual optical media
repository), and on vios1 ``datavg`` (free space for virtual disks) and the
file-backed ``QCOW VG - default``.

A VolumeGroup update (``POST``; hooks in ``storage_vg``) is how pypowervm
creates, grows and deletes virtual disks and optical media: new
``VirtualDisk`` elements (no UniqueDeviceID) are created (a ``BaseImage``
UDID makes a server-side copy), disks that disappear are deleted (refused
while a SCSI mapping uses them), capacity grows are applied and the free
space recomputed.

Disk contents live in files in a per-simulator temporary directory (written
by the upload protocol in ``storage_files``).  A copy or linked clone shares
its source's file: contents are only ever replaced whole, so sharing is safe.
``Simulator.disk_path(name)`` answers the file of a disk (by name or UDID)
holding the disk's whole virtual size, as a real device reads: what was
uploaded, then zeros (a sparse file; a shared file is copied, holes kept, when
the disk is larger than its source).  Virtual optical media are their upload.

Helpers here (``ordered_set``, ``new_el``, ``find_vdisk`` ...) are used by the
other storage hook modules (``storage_files``, ``storage_scsi``, ``fc``,
``ssp``); to model another storage type, add a hook module with one of those
prefixes and register it with ``registry``.
"""
import copy
import itertools
import os
import shutil
import tempfile
import threading
import uuid as uuidlib
import weakref

from lxml import etree

from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import xmlutil as xu

U = '{%s}' % xu.UOM_NS
GB = float(1 << 30)
ROOTVG = 'rootvg'
DATAVG = 'datavg'
QCOW_VG = 'QCOW VG - default'
REPO_NAME = 'VMLibrary'
MAX_VDISK_NAME = 15
# A VIOS's cache key of what updates read of its SCSI mappings
# (storage_scsi_facts.MEMO).
SCSI_FACTS = 'scsi_facts'
_VDISKS = 'vdisk_index'

VG_ORDER = ('AvailableSize', 'BackingDeviceCount', 'FreeSpace',
            'GroupCapacity', 'GroupName', 'GroupSerialID', 'GroupState',
            'MaximumLogicalVolumes', 'MediaRepositories',
            'MinimumAllocationSize', 'PhysicalVolumes', 'UniqueDeviceID',
            'VirtualDisks')
_STOR = ('ReadIOPS', 'WriteIOPS', 'EncryptionState', 'EncryptionKey',
         'EncryptionAgent', 'Tag', 'EmulateModel')
VDISK_ORDER = _STOR + (
    'DiskCapacity', 'DiskLabel', 'DiskName', 'MaxLogicalVolumes',
    'PartitionSize', 'VolumeGroup', 'BaseImage', 'UniqueDeviceID',
    'VirtualDiskType', 'BackStoreType', 'FileFormat', 'RbdUser',
    'OptionalParameters')
VOPT_ORDER = _STOR + ('MediaName', 'MediaUDID', 'MountType', 'Size')
PV_ORDER = _STOR + (
    'AvailablePhysicalPartitions', 'Description', 'LocationCode',
    'PersistentReserveKeyValue', 'ReservePolicy', 'ReservePolicyAlgorithm',
    'TotalPhysicalPartitions', 'UniqueDeviceID', 'AvailableForUsage',
    'VolumeCapacity', 'VolumeName', 'VolumeState', 'VolumeUniqueID',
    'IsFibreChannelBacked', 'StorageLabel', 'DescriptorPage83')

reg.register_type('VolumeGroup', parents=('VirtualIOServer',))


# ---- XML helpers (shared by the storage modules) ------------------------
def fmt(value):
    """A number as PowerVM prints it ('2', '0.5', '1051.1')."""
    out = ('%.6f' % float(value)).rstrip('0').rstrip('.')
    return out or '0'


def num(value, default=0.0):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def new_el(name, schema='V1_0', meta=True):
    """A new UOM-namespace element (with Metadata/Atom when meta)."""
    el = etree.Element(U + name, nsmap={None: xu.UOM_NS},
                       attrib={'schemaVersion': schema})
    if meta:
        xu.metadata(el)
    return el


def sub(parent, name, meta=True, attrib=None):
    """A list/child element (kb=CUD) appended to parent."""
    el = xu.make(parent, name, attrib=attrib if attrib is not None else {
        'kb': 'CUD', 'kxe': 'false', 'schemaVersion': 'V1_0'})
    if meta:
        xu.metadata(el)
    return el


def ordered_set(el, name, value, order, attrib=None):
    """Set child ``name`` of el (created at its schema position)."""
    found = xu.child(el, name)
    if found is None:
        found = etree.Element('{%s}%s' % (etree.QName(el).namespace, name),
                              attrib=attrib or {'kb': 'ROR', 'kxe': 'false'})
        pos = order.index(name) if name in order else len(order)
        idx = len(el)
        for i, c in enumerate(el):
            if not isinstance(c.tag, str):
                continue
            cn = xu.localname(c)
            if cn in order and order.index(cn) > pos:
                idx = i
                break
        el.insert(idx, found)
    found.text = None if value is None else str(value)
    return found


def remove_child(el, name):
    found = xu.child(el, name)
    if found is not None:
        el.remove(found)


def copy_el(el):
    return copy.deepcopy(el)


def uuid_in_href(href):
    """Last UUID-looking path segment of an href (case kept)."""
    if not href:
        return None
    for seg in reversed(href.split('?')[0].rstrip('/').split('/')):
        if len(seg) == 36 and seg.count('-') == 4:
            return seg
    return None


# ---- disk contents ------------------------------------------------------
_DIRS = weakref.WeakKeyDictionary()
_DIR_LOCK = threading.Lock()


def data_dir(sim):
    """The simulator's temporary directory for disk contents.

    Hosts sharing a san (``san.San``) share its directory.
    """
    san = getattr(sim, 'san', None)
    if san is not None:
        return san.data_dir
    with _DIR_LOCK:
        tmp = _DIRS.get(sim)
        if tmp is None:
            tmp = _DIRS[sim] = tempfile.TemporaryDirectory(
                prefix='powervm-sim-disks-')
        return tmp.name


# UDID prefixes of storage shared by the hosts of a san: SSP logical units
# (ssp.py makes their UDIDs unique cluster-wide).
SHARED_UDID_PREFIXES = ('27', '29')


def _blobs(sim, udid):
    """{storage UDID: content file path} holding ``udid``'s content."""
    san = getattr(sim, 'san', None)
    if san is not None and (udid or '')[:2] in SHARED_UDID_PREFIXES:
        return san.blobs
    return sim.extra.setdefault('stg_blobs', {})


def _all_blobs(sim):
    """Every {UDID: path} map content files of this simulator may be in."""
    own = sim.extra.setdefault('stg_blobs', {})
    san = getattr(sim, 'san', None)
    return [own] if san is None else [own, san.blobs]


def new_blob_path(sim):
    fd, path = tempfile.mkstemp(dir=data_dir(sim), suffix='.img')
    os.close(fd)
    return path


def set_content(sim, udid, path):
    """Point storage ``udid`` at content file ``path`` (shared ok)."""
    blobs = _blobs(sim, udid)
    old = blobs.get(udid)
    blobs[udid] = path
    if old and old != path:
        _gc_blob(sim, old)


def share_content(sim, src_udid, dst_udid):
    """dst gets src's content (copy / linked clone)."""
    path = _blobs(sim, src_udid).get(src_udid)
    if path:
        _blobs(sim, dst_udid)[dst_udid] = path


def drop_content(sim, udid):
    path = _blobs(sim, udid).pop(udid, None)
    if path:
        _gc_blob(sim, path)


def _gc_blob(sim, path):
    if not any(path in b.values() for b in _all_blobs(sim)):
        try:
            os.unlink(path)
        except OSError:
            pass


def content_path(sim, udid):
    """The content file of a storage UDID (an empty one if none yet)."""
    path = _blobs(sim, udid).get(udid)
    if path is None:
        path = new_blob_path(sim)
        _blobs(sim, udid)[udid] = path
    return path


@reg.seeder
def _wipe_contents(sim):
    """Reset: contents of the previous state are gone.

    A host joining a san whose other hosts are up keeps their contents.
    """
    san = getattr(sim, 'san', None)
    if san is not None and san.members(sim):
        return
    d = data_dir(sim)
    for name in os.listdir(d):
        full = os.path.join(d, name)
        if os.path.isdir(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            os.unlink(full)


# ---- lookups ----------------------------------------------------------
def vioses(sim):
    return sorted(sim.store.of_type('VirtualIOServer'),
                  key=lambda o: o.text('PartitionName', ''))


def vgs_of(sim, vios_key):
    return sim.store.children(vios_key, 'VolumeGroup')


def base_name(name):
    return name.split('/')[-1] if name else name


def vdisks(vg_el):
    return xu.findall(vg_el, 'VirtualDisks/VirtualDisk')


def media(vg_el):
    return xu.findall(vg_el, 'MediaRepositories/VirtualMediaRepository/'
                             'OpticalMedia/VirtualOpticalMedia')


def repo_vg(sim, vios_key):
    """The VG of a VIOS holding a media repository (or None)."""
    for vg in vgs_of(sim, vios_key):
        if xu.findall(vg.element,
                      'MediaRepositories/VirtualMediaRepository'):
            return vg
    return None


def find_vdisk(sim, vios_key, name=None, udid=None):
    """(vg Obj, VirtualDisk element) on a VIOS by UDID or name.

    The first one in VG and disk order; each VG's disks are indexed until
    the VG changes (Obj.memo).
    """
    if not udid and not name:
        return None, None
    for vg in vgs_of(sim, vios_key):
        by_udid, by_name = vg.memo(_VDISKS, _vdisk_index)
        vd = by_udid.get(udid) if udid else by_name.get(base_name(name))
        if vd is not None:
            return vg, vd
    return None, None


def _vdisk_index(vg):
    """({UDID: first disk}, {base name: first disk}) of a VG Obj."""
    by_udid, by_name = {}, {}
    for vd in vdisks(vg.element):
        by_udid.setdefault(xu.text(vd, 'UniqueDeviceID'), vd)
        by_name.setdefault(base_name(xu.text(vd, 'DiskName')), vd)
    return by_udid, by_name


def find_media(sim, vios_key, name):
    for vg in vgs_of(sim, vios_key):
        for m in media(vg.element):
            if xu.text(m, 'MediaName') == name:
                return vg, m
    return None, None


def storage_elements(sim):
    """Yield (kind, name, udid, element) like all_storage, with elements."""
    for vios in vioses(sim):
        for vg in vgs_of(sim, vios.key):
            for vd in vdisks(vg.element):
                yield ('VirtualDisk', base_name(xu.text(vd, 'DiskName')),
                       xu.text(vd, 'UniqueDeviceID'), vd)
            for m in media(vg.element):
                yield ('VirtualOpticalMedia', xu.text(m, 'MediaName'),
                       xu.text(m, 'MediaUDID'), m)
    for lu in sim.store.of_type('LogicalUnit'):
        yield ('LogicalUnit', lu.text('UnitName'),
               lu.text('UniqueDeviceID'), lu.element)


def all_storage(sim):
    """Yield (kind, name, udid) of every disk-like object with content."""
    for kind, name, udid, _el in storage_elements(sim):
        yield kind, name, udid


def storage_in_use(sim, vios_key, udid):
    """Whether a SCSI mapping of the VIOS has storage with this UDID.

    Read from what the last VIOS update read of its mappings
    (storage_scsi_facts' memo, kept until the VIOS changes otherwise) when
    there is one.
    """
    vios = sim.store.get(*vios_key)
    if vios is None or not udid:
        return False
    memo = vios.cache.get(SCSI_FACTS)
    if memo is not None and memo[0] is vios.element:
        return any(udid in f['udids'] for _m, f in memo[1].values())
    return any(udid in storage_udids(stg) for stg in xu.findall(
        vios.element, 'VirtualSCSIMappings/VirtualSCSIMapping/Storage'))


def storage_udids(stg):
    """The UDIDs (UniqueDeviceID, MediaUDID) of a Storage element's kids."""
    out = set()
    for c in stg:
        if isinstance(c.tag, str):
            out.update((xu.text(c, 'UniqueDeviceID'),
                        xu.text(c, 'MediaUDID')))
    out.discard(None)
    return out


def seed_uuid(*parts):
    """A stable UUID for a seeded object.

    The same in every simulator, like the UUIDs of one real system.
    """
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, '/'.join(parts)))


def next_udid_seq(sim):
    seq = sim.extra.get('stg_seq')
    if seq is None:
        seq = sim.extra['stg_seq'] = itertools.count(1)
    return next(seq)


# ---- seed --------------------------------------------------------------
def pv_element(name, udid, gb, desc='SAS RAID 0 Disk Array', loc=None,
               fc=False):
    pv = new_el('PhysicalVolume')
    vals = (('Description', desc), ('LocationCode', loc or
                                    'U78C9.001.WZS0095-P1-C14-R1-L%s-L0'
                                    % name[-1]),
            ('ReservePolicy', 'NoReserve'),
            ('ReservePolicyAlgorithm', 'Failover'),
            ('UniqueDeviceID', udid), ('AvailableForUsage', 'false'),
            ('VolumeCapacity', int(gb * 1024)), ('VolumeName', name),
            ('VolumeState', 'active'),
            ('VolumeUniqueID', udid[2:]),
            ('IsFibreChannelBacked', 'true' if fc else 'false'))
    for k, v in vals:
        xu.make(pv, k, v)
    return pv


def _vg(sim, vios, name, serial, capacity, pvs, repo_gb=None, n=1):
    el = new_el('VolumeGroup')
    xu.make(el, 'AvailableSize', fmt(capacity))
    xu.make(el, 'FreeSpace', fmt(capacity))
    xu.make(el, 'GroupCapacity', fmt(capacity))
    xu.make(el, 'GroupName', name)
    xu.make(el, 'GroupSerialID', serial)
    xu.make(el, 'MaximumLogicalVolumes', 1024)
    mr = sub(el, 'MediaRepositories')
    if repo_gb:
        repo = sub(mr, 'VirtualMediaRepository', attrib={
            'schemaVersion': 'V1_0'})
        sub(repo, 'OpticalMedia')
        xu.make(repo, 'RepositoryName', REPO_NAME)
        xu.make(repo, 'RepositorySize', fmt(repo_gb))
    pvl = sub(el, 'PhysicalVolumes')
    for pv in pvs:
        pvl.append(pv)
    xu.make(el, 'UniqueDeviceID', '04' + serial)
    sub(el, 'VirtualDisks')
    uid = seed_uuid(vios.uuid, name)
    obj = sim.store.add('VolumeGroup', uid, el, parent=vios.key, emit=False)
    xu.set_text(el, 'Metadata/Atom/AtomID', uid)
    recompute(obj.element)
    return obj


@reg.seeder
def _seed_vgs(sim):
    vs = vioses(sim)
    for idx, vios in enumerate(vs):
        vid = idx + 1
        sas = [pv_element('hdisk%d' % n, '01M0lCTSAgIFNBUyBWSU9TJWRoZGlz'
                          'ayVk%d%d' % (vid, n), 300.0 if n == 0 else 1000.0)
               for n in range(3 if idx == 0 else 1)]
        vgs = [_vg(sim, vios, ROOTVG, '00f8d6de00004b0%d0000014a54555cd9'
                   % vid, 300.0, [sas[0]], repo_gb=10 if idx == 0 else None)]
        if idx == 0:
            vgs.append(_vg(sim, vios, DATAVG,
                           '00f8d6de00004b0%d0000014a54555d00' % vid,
                           1000.0, [sas[1]]))
            vgs.append(_vg(sim, vios, QCOW_VG,
                           '00f8d6de00004b0%d0000014a54555e00' % vid,
                           1000.0, [sas[2]]))
        # The VIOS's own storage view: its PVs, pools and repository.
        pvs = xu.child(vios.element, 'PhysicalVolumes')
        if pvs is not None:
            for c in list(pvs):
                if xu.localname(c) == 'PhysicalVolume':
                    pvs.remove(c)
            for pv in sas:
                pvs.append(copy_el(pv))
        pools = xu.child(vios.element, 'StoragePools')
        if pools is not None:
            for c in list(pools):
                pools.remove(c)
            for vg in vgs:
                xu.make(pools, 'link', attrib={
                    'href': sim.store.href(vg), 'rel': 'related'})
        sync_vios_view(sim, vios, touch=False)


def sync_vios_view(sim, vios, touch=True):
    """Refresh the VIOS's MediaRepositories view from its VGs.

    The media repository belongs to the VG (which carries the etag); the
    VIOS's ViosStorage copy is refreshed without a VIOS etag change.
    """
    mr = xu.child(vios.element, 'MediaRepositories')
    if mr is None:
        return
    was = etree.tostring(mr)
    for c in list(mr):
        if xu.localname(c) != 'Metadata':
            mr.remove(c)
    vg = repo_vg(sim, vios.key)
    if vg is not None:
        for repo in xu.findall(vg.element,
                               'MediaRepositories/VirtualMediaRepository'):
            mr.append(copy_el(repo))
    if etree.tostring(mr) != was:
        # Only then: the VIOS's serialized answers (2 MB with hundreds of
        # mappings) stay valid through changes of its other VGs.
        vios.cache.clear()


# ---- capacity ---------------------------------------------------------
def used_gb(vg_el):
    used = sum(num(xu.text(vd, 'DiskCapacity')) for vd in vdisks(vg_el))
    used += sum(num(xu.text(r, 'RepositorySize')) for r in xu.findall(
        vg_el, 'MediaRepositories/VirtualMediaRepository'))
    return used


def recompute(vg_el):
    free = num(xu.text(vg_el, 'GroupCapacity')) - used_gb(vg_el)
    ordered_set(vg_el, 'AvailableSize', fmt(max(free, 0)), VG_ORDER)
    ordered_set(vg_el, 'FreeSpace', fmt(max(free, 0)), VG_ORDER)


# ---- controls and snapshot -------------------------------------------
def _copy_sparse(src, dst):
    """Copy file src to dst, keeping holes (only data extents copied)."""
    with open(src, 'rb') as fin, open(dst, 'wb') as fout:
        end = os.fstat(fin.fileno()).st_size
        pos = 0
        while pos < end:
            try:
                pos = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
            except OSError:   # ENXIO: only a hole is left
                break
            stop = os.lseek(fin.fileno(), pos, os.SEEK_HOLE)
            fin.seek(pos)
            fout.seek(pos)
            left = stop - pos
            while left > 0:
                chunk = fin.read(min(left, 1 << 20))
                if not chunk:
                    break
                fout.write(chunk)
                left -= len(chunk)
            pos = stop
        fout.truncate(end)


def whole_content_path(sim, udid, size):
    """The content file of ``udid``, exactly ``size`` bytes long.

    Unwritten space reads as zeros (a sparse extension).  A file shared
    with other storage is first copied (holes kept), so growing or cutting
    it changes no other disk.
    """
    path = content_path(sim, udid)
    cur = os.path.getsize(path)
    if cur == size:
        return path
    shared = [u for b in _all_blobs(sim) for u, p in b.items()
              if p == path and u != udid]
    if shared:
        new = new_blob_path(sim)
        _copy_sparse(path, new)
        _blobs(sim, udid)[udid] = path = new
    os.truncate(path, size)
    return path


def _virtual_bytes(kind, el):
    """Virtual size of a disk/LU element in bytes (None: its upload)."""
    if kind == 'VirtualDisk':
        return int(round(num(xu.text(el, 'DiskCapacity')) * GB))
    if kind == 'LogicalUnit':
        return int(round(num(xu.text(el, 'UnitCapacity')) * GB))
    return None


@reg.control('disk_path')
def disk_path(sim, name):
    """The file holding the contents of a disk/LU/media (name or UDID).

    A disk or LU reads back its whole virtual size (unwritten space:
    zeros), as the device would; media are their uploaded bytes.  Raises
    KeyError if unknown.
    """
    with sim.lock:
        for kind, sname, udid, el in storage_elements(sim):
            if name in (sname, udid):
                size = _virtual_bytes(kind, el)
                if size is None:
                    return content_path(sim, udid)
                return whole_content_path(sim, udid, size)
    raise KeyError('No disk, logical unit or media named %s' % name)


@reg.snapshot('volume_groups')
def _snap_vgs(sim):
    out = {}
    for vios in vioses(sim):
        for vg in vgs_of(sim, vios.key):
            key = '%s/%s' % (vios.text('PartitionName'), vg.text('GroupName'))
            out[key] = {
                'capacity_gb': num(vg.text('GroupCapacity')),
                'free_gb': num(vg.text('AvailableSize')),
                'virtual_disks': {
                    base_name(xu.text(vd, 'DiskName')):
                        num(xu.text(vd, 'DiskCapacity'))
                    for vd in vdisks(vg.element)},
                'media': sorted(xu.text(m, 'MediaName')
                                for m in media(vg.element))}
    return out


@reg.snapshot('disk_data_files')
def _snap_data(sim):
    """Content entries: storage with content, plus unreferenced files.

    Leaked uploads show up as unreferenced files.  Storage sharing a file
    counts once each, so making a disk whole on reading it (a copy of a
    shared file) changes nothing here.
    """
    d = data_dir(sim)
    if not os.path.isdir(d):
        return 0
    san = getattr(sim, 'san', None)
    maps = _all_blobs(sim)
    if san is not None:
        maps += [m.extra.get('stg_blobs', {}) for m in san.members(sim)]
    referenced = {p for b in maps for p in b.values()}
    files = {os.path.join(d, n) for n in os.listdir(d)}
    return sum(len(b) for b in _all_blobs(sim)) + len(files - referenced)
