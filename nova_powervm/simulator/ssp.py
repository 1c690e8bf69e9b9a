"""Shared storage pool: Cluster, SharedStoragePool, Tier, LogicalUnit.

Seeded: cluster ``simcluster`` whose nodes are the host's VIOSes, pool
``simssp`` (1000 GB) with its default tier ``SYSTEM``.

Logical units are children of the tier (``PUT /Tier/<uuid>/LogicalUnit``,
pypowervm ``crt_lu``): the server fills the UDID (``29``+hex for images,
``27``+hex for disks), ``InUse``, capacity (at least the source's for a
linked clone) and checks the free space.  A linked clone (``ClonedFrom`` =
an image LU's UDID) reads back its image's bytes and consumes no pool space;
other LUs consume their capacity.  Deleting an LU that a SCSI mapping uses,
or an image LU that still has clones, is refused (409).  The pool's
``LogicalUnits`` list mirrors the LUs; a pool update that drops LUs
(``rm_ssp_storage``) deletes them.  Uploads to an LU go through the file
protocol (``storage_files``).
"""
import uuid as uuidlib

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import xmlutil as xu

IMAGE = 'VirtualIO_Image'
DISK = 'VirtualIO_Disk'
LU_TYPES = (DISK, IMAGE, 'VirtualIO_Hibernation',
            'VirtualIO_Active_Memory_Sharing')
LU_ORDER = stg._STOR + ('ThinDevice', 'UniqueDeviceID', 'UnitCapacity',
                        'LogicalUnitType', 'ClonedFrom', 'InUse', 'UnitName',
                        'LogicalUnitMigration')
SSP_ORDER = ('LogicalUnits', 'MultiDataTierConfigured',
             'MultiFailureGroupConfigured', 'PhysicalVolumes', 'Capacity',
             'FreeSpace', 'OverCommitSpace', 'TotalLogicalUnitSize',
             'AlertThreshold', 'StoragePoolName', 'UniqueDeviceID')
POOL_GB = 1000.0
MAX_LU_NAME = 79

reg.register_type('Cluster')
reg.register_type('SharedStoragePool')
reg.register_type('Tier', parents=('SharedStoragePool',))
reg.register_type('LogicalUnit', parents=('Tier',))


def _hex():
    return (uuidlib.uuid4().hex + uuidlib.uuid4().hex)[:64]


def _node(sim, host, vios):
    """A cluster Node element for a VIOS of host (this endpoint's hrefs)."""
    node = stg.new_el('Node')
    xu.make(node, 'HostName', '%s%s.example.com' % (
        vios.text('PartitionName'),
        '-h%d' % sim.host_index if getattr(sim, 'host_index', 0) else ''))
    xu.make(node, 'PartitionID', vios.text('PartitionID'))
    mtms = stg.sub(node, 'MachineTypeModelAndSerialNumber')
    for k in ('MachineType', 'Model', 'SerialNumber'):
        xu.make(mtms, k, host.text('MachineTypeModelAndSerialNumber/' + k))
    xu.make(node, 'VirtualIOServerLevel', '3.1.0.0')
    xu.link(node, 'VirtualIOServer', '%s/rest/api/uom/ManagedSystem/%s/'
            'VirtualIOServer/%s' % (sim.base_url, host.uuid, vios.uuid))
    xu.make(node, 'State', 'Up')
    return node


def _join_cluster(sim, src, host, vs):
    """A host joining a san: the cluster as src has it, plus our nodes."""
    sim.san.copy(src, sim)
    for cl in sim.store.of_type('Cluster'):
        nodes = xu.child(cl.element, 'Node')
        for vios in vs:
            nodes.append(_node(sim, host, vios))
        sim.store.touch(cl, emit=False)


@reg.seeder
def _seed_ssp(sim):
    vs = stg.vioses(sim)
    if not vs:
        return
    host = sim.store.of_type('ManagedSystem')[0]
    san = getattr(sim, 'san', None)
    if san is not None and san.members(sim):
        _join_cluster(sim, san.members(sim)[0], host, vs)
        return
    ssp_uuid = stg.seed_uuid(host.uuid, 'ssp')
    ssp = stg.new_el('SharedStoragePool')
    stg.sub(ssp, 'LogicalUnits', meta=True)
    xu.make(ssp, 'MultiDataTierConfigured', 'false')
    xu.make(ssp, 'MultiFailureGroupConfigured', 'false')
    pvs = stg.sub(ssp, 'PhysicalVolumes')
    pvs.append(stg.pv_element(
        'hdisk9', '01M0lCTTIxNDUxMjQ2MDA1MDc2ODAyODI4NjFEODgwMDAwMDAw' '3',
        POOL_GB, desc='MPIO IBM 2076 FC Disk', fc=True))
    xu.make(ssp, 'Capacity', stg.fmt(POOL_GB))
    xu.make(ssp, 'FreeSpace', stg.fmt(POOL_GB))
    xu.make(ssp, 'OverCommitSpace', '0')
    xu.make(ssp, 'TotalLogicalUnitSize', '0')
    xu.make(ssp, 'AlertThreshold', '35%')
    xu.make(ssp, 'StoragePoolName', 'simssp')
    xu.make(ssp, 'UniqueDeviceID', '24' + _hex()[:62])
    sobj = sim.store.add('SharedStoragePool', ssp_uuid, ssp, emit=False)
    tier = stg.new_el('Tier')
    for k, v in (('Name', 'SYSTEM'), ('UniqueDeviceID', '25' + _hex()[:48]),
                 ('Type', 'UnrestrictedSystemTier'), ('IsDefault', 'true'),
                 ('Capacity', stg.fmt(POOL_GB)),
                 ('MirrorState', 'NotMirrored')):
        xu.make(tier, k, v)
    xu.link(tier, 'AssociatedSharedStoragePool', sim.store.href(sobj))
    sim.store.add('Tier', stg.seed_uuid(host.uuid, 'tier'), tier,
                  parent=sobj.key,
                  emit=False)
    cl = stg.new_el('Cluster')
    xu.make(cl, 'ClusterName', 'simcluster')
    xu.make(cl, 'ClusterID', '22' + _hex()[:32])
    rd = stg.sub(cl, 'RepositoryDisk')
    rd.append(stg.pv_element(
        'hdisk8', '01M0lCTTIxNDUxMjQ2MDA1MDc2ODAyODI4NjFEODgwMDAwMDAw' '2',
        10.0, desc='MPIO IBM 2076 FC Disk', fc=True))
    xu.link(cl, 'ClusterSharedStoragePool', sim.store.href(sobj))
    nodes = stg.sub(cl, 'Node')
    for vios in vs:
        nodes.append(_node(sim, host, vios))
    sim.store.add('Cluster', stg.seed_uuid(host.uuid, 'cluster'), cl,
                  emit=False)


# ---- helpers ---------------------------------------------------------------
def _ssp_of_tier(sim, tier):
    return sim.store.get(*tier.parent) if tier and tier.parent else None


def _lus(sim, ssp, exclude=None):
    out = []
    for tier in sim.store.children(ssp.key, 'Tier'):
        out.extend(lu for lu in sim.store.children(tier.key, 'LogicalUnit')
                   if lu is not exclude)
    return out


def _consumed(lu_el):
    """Pool GB an LU takes (linked clones are thin copies: none)."""
    if xu.text(lu_el, 'ClonedFrom'):
        return 0.0
    return stg.num(xu.text(lu_el, 'UnitCapacity'))


def _free(sim, ssp, exclude=None):
    used = sum(_consumed(lu.element) for lu in _lus(sim, ssp, exclude))
    return stg.num(ssp.text('Capacity')) - used


def sync_pool(sim, ssp, touch=True, exclude=None):
    """Rebuild the pool's LogicalUnits list and space figures."""
    lus = _lus(sim, ssp, exclude)
    holder = xu.child(ssp.element, 'LogicalUnits')
    if holder is None:
        holder = stg.sub(ssp.element, 'LogicalUnits')
        ssp.element.insert(0, holder)
    for c in list(holder):
        if xu.localname(c) != 'Metadata':
            holder.remove(c)
    for lu in lus:
        copy = stg.copy_el(lu.element)
        md = xu.child(copy, 'Metadata')
        if md is not None:
            for a in list(md):
                md.remove(a)
            xu.make(md, 'Atom', attrib={})
        holder.append(copy)
    total = sum(stg.num(lu.text('UnitCapacity')) for lu in lus)
    free = _free(sim, ssp, exclude)
    stg.ordered_set(ssp.element, 'FreeSpace', stg.fmt(max(free, 0)),
                    SSP_ORDER)
    stg.ordered_set(ssp.element, 'TotalLogicalUnitSize', stg.fmt(total),
                    SSP_ORDER)
    stg.ordered_set(ssp.element, 'OverCommitSpace', stg.fmt(
        max(total - stg.num(ssp.text('Capacity')), 0)), SSP_ORDER)
    if touch:
        sim.store.touch(ssp)


def _find_lu(sim, ssp, udid):
    for lu in _lus(sim, ssp):
        u = lu.text('UniqueDeviceID') or ''
        if udid and u[2:] == udid[2:]:
            return lu
    return None


def _check_lu(sim, ssp, el, exclude=None):
    """Validate and fill a new LU element; returns its source's UDID."""
    name = xu.text(el, 'UnitName')
    if not name or len(name) > MAX_LU_NAME:
        raise errors.BadRequest('Logical unit name %r is empty or longer '
                                'than %d characters' % (name, MAX_LU_NAME))
    cap = stg.num(xu.text(el, 'UnitCapacity'), -1)
    if cap <= 0:
        raise errors.BadRequest('Logical unit %s needs a positive '
                                'UnitCapacity (GB)' % name)
    typ = xu.text(el, 'LogicalUnitType') or DISK
    if typ not in LU_TYPES:
        raise errors.BadRequest('Unknown LogicalUnitType %s' % typ)
    src = xu.text(el, 'ClonedFrom')
    if src:
        base = _find_lu(sim, ssp, src)
        if base is None or base.text('LogicalUnitType') != IMAGE:
            raise errors.BadRequest('ClonedFrom %s is not an image logical '
                                    'unit of pool %s'
                                    % (src, ssp.text('StoragePoolName')))
        cap = max(cap, stg.num(base.text('UnitCapacity')))
        src = base.text('UniqueDeviceID')
        stg.ordered_set(el, 'ClonedFrom', src, LU_ORDER)
    stg.ordered_set(el, 'ThinDevice', xu.text(el, 'ThinDevice') or 'true',
                    LU_ORDER)
    stg.ordered_set(el, 'UniqueDeviceID', ('29' if typ == IMAGE else '27') +
                    _hex(), LU_ORDER)
    stg.ordered_set(el, 'UnitCapacity', stg.fmt(cap), LU_ORDER)
    stg.ordered_set(el, 'LogicalUnitType', typ, LU_ORDER)
    stg.ordered_set(el, 'InUse', 'false', LU_ORDER)
    if _consumed(el) > _free(sim, ssp, exclude) + 1e-6:
        raise errors.SimError(400, 'Not enough free space in shared storage '
                              'pool %s for logical unit %s (%s GB)'
                              % (ssp.text('StoragePoolName'), name,
                                 stg.fmt(cap)))
    return src


def _in_use(sim, udid):
    """Whether a VIOS of any host of the cluster maps the storage."""
    san = getattr(sim, 'san', None)
    hosts = [sim] + (san.members(sim) if san is not None else [])
    return any(stg.storage_in_use(h, v.key, udid) for h in hosts
               for v in h.store.of_type('VirtualIOServer'))


def _check_delete(sim, ssp, lu, going=()):
    """Refuse deleting a mapped LU or an image with clones not in going."""
    udid = lu.text('UniqueDeviceID')
    if _in_use(sim, udid):
        raise errors.SimError(409, 'Logical unit %s is in use by a virtual '
                              'SCSI mapping' % lu.text('UnitName'))
    clones = [o for o in _lus(sim, ssp) if o is not lu and
              o not in going and
              (o.text('ClonedFrom') or '')[2:] == udid[2:]]
    if clones:
        raise errors.SimError(409, 'Image logical unit %s still has %d '
                              'linked clone(s)' % (lu.text('UnitName'),
                                                   len(clones)))


# ---- hooks -----------------------------------------------------------
@reg.on_create('LogicalUnit')
def _lu_create(sim, obj, ctx):
    tier = sim.store.get(*obj.parent) if obj.parent else None
    ssp = _ssp_of_tier(sim, tier)
    if ssp is None:
        raise errors.BadRequest('A logical unit is created in a Tier')
    src = _check_lu(sim, ssp, obj.element, exclude=obj)
    if src:
        stg.share_content(sim, src, obj.text('UniqueDeviceID'))
    sync_pool(sim, ssp)


@reg.on_update('LogicalUnit')
def _lu_update(sim, obj, old, ctx):
    for path in ('UniqueDeviceID', 'LogicalUnitType', 'ClonedFrom',
                 'UnitName', 'InUse', 'ThinDevice'):
        val = xu.text(old, path)
        if val is not None:
            stg.ordered_set(obj.element, path, val, LU_ORDER)
    new_cap = stg.num(obj.text('UnitCapacity'))
    if new_cap < stg.num(xu.text(old, 'UnitCapacity')) - 1e-6:
        raise errors.BadRequest('Logical unit %s cannot shrink'
                                % obj.text('UnitName'))
    ssp = _ssp_of_tier(sim, sim.store.get(*obj.parent))
    if _free(sim, ssp) < -1e-6:
        raise errors.SimError(400, 'Not enough free space in the pool')
    sync_pool(sim, ssp)


@reg.on_delete('LogicalUnit')
def _lu_delete(sim, obj, ctx):
    ssp = _ssp_of_tier(sim, sim.store.get(*obj.parent))
    if ctx is not None and ssp is not None:
        _check_delete(sim, ssp, obj)
    stg.drop_content(sim, obj.text('UniqueDeviceID'))
    if ssp is not None:
        sync_pool(sim, ssp, exclude=obj)


@reg.on_update('SharedStoragePool')
def _ssp_update(sim, obj, old, ctx):
    """rm_ssp_storage / legacy crt_lu: LUs dropped or added in the list."""
    for path in ('Capacity', 'StoragePoolName', 'UniqueDeviceID'):
        val = xu.text(old, path)
        if val is not None:
            stg.ordered_set(obj.element, path, val, SSP_ORDER)
    listed = xu.findall(obj.element, 'LogicalUnits/LogicalUnit')
    keep = {xu.text(lu, 'UniqueDeviceID') for lu in listed
            if xu.text(lu, 'UniqueDeviceID')}
    new = [lu for lu in listed if not xu.text(lu, 'UniqueDeviceID')]
    gone = [lu for lu in _lus(sim, obj)
            if lu.text('UniqueDeviceID') not in keep]
    for lu in gone:
        _check_delete(sim, obj, lu, going=gone)
    tiers = sim.store.children(obj.key, 'Tier')
    default = [t for t in tiers if t.text('IsDefault') == 'true'] or tiers
    for el in new:
        if not default:
            raise errors.BadRequest('The pool has no tier')
        _check_lu(sim, obj, el)
    for lu in gone:
        stg.drop_content(sim, lu.text('UniqueDeviceID'))
        sim.store.discard(lu)
        sim.events.emit('DELETE_URI', sim.store.href(lu), None)
    for el in new:
        lu_el = stg.copy_el(el)
        uid = sim.new_uuid('LogicalUnit')
        src = xu.text(lu_el, 'ClonedFrom')
        sim.store.add('LogicalUnit', uid, lu_el, parent=default[0].key)
        if src:
            stg.share_content(sim, src, xu.text(lu_el, 'UniqueDeviceID'))
    sync_pool(sim, obj, touch=False)


@reg.control('set_cluster_member')
def set_cluster_member(sim, vios_uuid, member=True):
    """Add a VIOS of this host to the cluster, or remove it (its node).

    As ``cluster -addnode`` / ``-rmnode`` on the VIOS; every host of a san
    sees the new node list.
    """
    with sim.lock:
        vios = sim.store.get('VirtualIOServer', vios_uuid)
        if vios is None:
            raise KeyError('No VIOS %s on this host' % vios_uuid)
        host = sim.store.of_type('ManagedSystem')[0]
        for cl in sim.store.of_type('Cluster'):
            nodes = xu.child(cl.element, 'Node')
            for node in xu.findall(cl.element, 'Node/Node'):
                link = xu.child(node, 'VirtualIOServer')
                if link is not None and link.get('href', '').upper() \
                        .endswith('/' + vios.uuid.upper()):
                    nodes.remove(node)
            if member:
                nodes.append(_node(sim, host, vios))
            sim.store.touch(cl)


@reg.snapshot('ssp')
def _snap_ssp(sim):
    out = {}
    for ssp in sim.store.of_type('SharedStoragePool'):
        names = {lu.text('UniqueDeviceID')[2:]: lu.text('UnitName')
                 for lu in _lus(sim, ssp)}
        out[ssp.text('StoragePoolName')] = {
            'capacity_gb': stg.num(ssp.text('Capacity')),
            'free_gb': stg.num(ssp.text('FreeSpace')),
            'logical_units': sorted(
                (lu.text('UnitName'), lu.text('LogicalUnitType'),
                 stg.num(lu.text('UnitCapacity')),
                 names.get((lu.text('ClonedFrom') or '')[2:]))
                for lu in _lus(sim, ssp))}
    return out
