"""Virtual SCSI mappings on the VIOSes (``ViosSCSIMapping`` group).

pypowervm adds and removes mappings by POSTing the VIOS with an edited
``VirtualSCSIMappings`` list (etag-checked by the core).  On each accepted
update this module compares the list with the stored one:

* a mapping whose TargetDevice UDID is known and that names the same
  storage is kept as stored (the client cannot change server fields); one
  posted without that storage or with another is a change, as on NovaLink:
  the stored mapping is removed and the posted one taken as new (without
  storage: its adapter pair stays, the device is unmapped);
* a new mapping is validated (its partition must exist, its storage must be
  a disk/media/PV/LU this VIOS sees, no second mapping of the same storage
  to the same client) and filled as PowerVM does: client and server adapters
  (slots, location codes, vhost name), the full storage element (UDID ...)
  and a target device (vtscsiN/vtoptN, LUA, UDID).  A mapping cloned from an
  existing one (``bld_from_existing``: its ServerAdapter has a UDID) shares
  that adapter pair;
* a mapping that disappeared is removed (its adapters go with the last one).

Deleting a partition removes its SCSI and virtual FC mappings from every
VIOS (PowerVM removes the adapters with the partition).  Client slots used
by mappings are published in ``sim.extra[('slots', partition key)]`` so
network adapters never take them.
"""
import random

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import network
# Imported first so that its delete refusal (running partition) runs before
# the mapping cascade registered here.
from nova_powervm.simulator import partition
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import storage_backed
from nova_powervm.simulator import storage_scsi_facts as sfacts
from nova_powervm.simulator import xmlutil as xu

LOC = 'U8247.22L.2125D4A-V%s-C%s'
SCSI_PATH = sfacts.SCSI_PATH
VFC_PATH = 'VirtualFibreChannelMappings/VirtualFibreChannelMapping'
ADPT_ORDER = (
    'AdapterType', 'DynamicReconfigurationConnectorName', 'LocationCode',
    'LocalPartitionID', 'RequiredAdapter', 'VariedOn',
    'UseNextAvailableSlotID', 'UseNextAvailableHighSlotID',
    'VirtualSlotNumber', 'Enabled', 'AdapterName', 'BackingDeviceName',
    'RemoteBackingDeviceName', 'RemoteLogicalPartitionID',
    'ConnectingPartition', 'ConnectingPartitionID', 'RemoteSlotNumber',
    'ConnectingVirtualSlotNumber', 'ServerLocationCode', 'UniqueDeviceID',
    'MapPort', 'PhysicalPort', 'ServerAdapter', 'WWPNs',
    'NportLoggedInStatus', 'OperatingSystemDisks')
_VIEW = ('PhysicalVolumes', 'MediaRepositories', 'StoragePools')
_TD_TYPES = {'VirtualDisk': ('LogicalVolumeVirtualTargetDevice', 'vtscsi'),
             'PhysicalVolume': ('PhysicalVolumeVirtualTargetDevice',
                                'vtscsi'),
             'LogicalUnit': ('SharedStoragePoolLogicalUnitVirtualTargetDevice',
                             'vtscsi'),
             'VirtualOpticalMedia': ('VirtualOpticalTargetDevice', 'vtopt')}


# ---- shared by SCSI and VFC mappings -----------------------------------
def client_of(sim, mapping):
    """The client partition Obj of a mapping element (or None)."""
    link = xu.child(mapping, 'AssociatedLogicalPartition')
    uid = stg.uuid_in_href(link.get('href') if link is not None else None)
    if uid is None:
        return None
    return (sim.store.get('LogicalPartition', uid) or
            sim.store.get('VirtualIOServer', uid))


def client_key_of(mapping):
    """(href uuid upper, client LocalPartitionID) of a mapping element."""
    link = xu.child(mapping, 'AssociatedLogicalPartition')
    uid = stg.uuid_in_href(link.get('href') if link is not None else None)
    return ((uid or '').upper(),
            xu.text(mapping, 'ClientAdapter/LocalPartitionID'))


# Read by other modules under their old names.
_storage_el = sfacts.storage_el


def all_maps(el):
    return xu.findall(el, SCSI_PATH) + xu.findall(el, VFC_PATH)


def server_slots(sim, vios, el=None, facts=None):
    el = vios.element if el is None else el
    used = set(network.used_slots(sim, vios.key))
    for m in xu.findall(el, VFC_PATH):
        s = xu.text(m, 'ServerAdapter/VirtualSlotNumber')
        if s and s.isdigit():
            used.add(int(s))
    used |= sfacts.server_slots(el, facts)
    for d in xu.findall(el, 'TrunkAdapters/TrunkAdapter'):
        s = xu.text(d, 'VirtualSlotNumber')
        if s and s.isdigit():
            used.add(int(s))
    return used


def free_slot(used, first=network.FIRST_CLIENT_SLOT):
    slot = first
    while slot in used:
        slot += 1
    return slot


def refresh_client_slots(sim, facts=None):
    """Publish the client slots held by mappings, per client partition."""
    slots = {}
    for vios in sim.store.of_type('VirtualIOServer'):
        for m in xu.findall(vios.element, VFC_PATH):
            _client_slot(sim, slots, client_of(sim, m),
                         xu.text(m, 'ClientAdapter/VirtualSlotNumber'))
        get = sim.store.get
        for uid, held in sfacts.client_slots(vios, facts):
            client = (get('LogicalPartition', uid) or
                      get('VirtualIOServer', uid))
            if client is not None:
                slots.setdefault(client.key, set()).update(held)
    for key in [k for k in sim.extra if isinstance(k, tuple) and
                len(k) == 2 and k[0] == 'slots']:
        sim.extra.pop(key)
    for key, val in slots.items():
        sim.extra[('slots', key)] = val


def _client_slot(sim, slots, client, s):
    if client is not None and s and s.isdigit():
        slots.setdefault(client.key, set()).add(int(s))


def pick_client_slot(sim, mapping, client, taken):
    """The client slot a new mapping asks for (or the next free one)."""
    used = set(network.used_slots(sim, client.key)) | taken.setdefault(
        client.key, set())
    ca = xu.child(mapping, 'ClientAdapter')
    want = xu.text(ca, 'VirtualSlotNumber') if ca is not None else None
    if want and xu.text(ca, 'UseNextAvailableSlotID') != 'true':
        slot = network.check_requested_slot(
            client, want, used,
            holder=lambda n: _slot_holder(sim, client, n, taken))
    else:
        slot = free_slot(used)
    taken[client.key].add(slot)
    return slot


def _slot_holder(sim, client, slot, taken):
    """What holds client slot ``slot`` (named in the 409)."""
    if slot in taken.get(client.key, ()):
        return 'by another mapping in this request'
    if slot in network.used_slots(sim, client.key) - set(
            sim.extra.get(('slots', client.key), ())):
        return 'by a virtual adapter of the partition'
    for vios in sim.store.of_type('VirtualIOServer'):
        for m in all_maps(vios.element):
            if (client_of(sim, m) is client and xu.text(
                    m, 'ClientAdapter/VirtualSlotNumber') == str(slot)):
                return 'by a mapping on %s' % vios.text('PartitionName')
    return None


def build_adapter(parent_map, name, fields):
    """Replace parent_map's ``name`` adapter with one holding fields."""
    old = xu.child(parent_map, name)
    new = etree.Element('{%s}%s' % (xu.UOM_NS, name),
                        attrib={'kb': 'CUR', 'kxe': 'false',
                                'schemaVersion': 'V1_0'})
    xu.metadata(new)
    for key, val in fields:
        if val is not None:
            stg.ordered_set(new, key, val, ADPT_ORDER)
    if old is not None:
        parent_map.replace(old, new)
    else:
        parent_map.append(new)
    return new


def reorder(mapping, order):
    """Put a mapping's children in schema order (Metadata first)."""
    kids = [c for c in mapping if isinstance(c.tag, str)]
    rank = {n: i for i, n in enumerate(order)}
    kids.sort(key=lambda c: -1 if xu.localname(c) == 'Metadata' else
              rank.get(xu.localname(c), len(order)))
    for c in kids:
        mapping.remove(c)
        mapping.append(c)


# ---- storage lookups ------------------------------------------------------
def canonical_storage(sim, vios, el, stg_el):
    """A copy of the server's element for a mapping's storage reference."""
    kind = xu.localname(stg_el)
    udid = xu.text(stg_el, 'UniqueDeviceID')
    found = None
    backed = (storage_backed.resolve(sim, vios, stg_el)
              if kind == 'VirtualDisk' else None)
    if backed is not None:
        found = backed
    elif kind == 'VirtualDisk':
        found = stg.find_vdisk(sim, vios.key, xu.text(stg_el, 'DiskName'),
                               udid)[1]
    elif kind == 'VirtualOpticalMedia':
        found = stg.find_media(sim, vios.key,
                               xu.text(stg_el, 'MediaName'))[1]
    elif kind == 'PhysicalVolume':
        name = xu.text(stg_el, 'VolumeName')
        for pv in xu.findall(el, 'PhysicalVolumes/PhysicalVolume'):
            if (udid and xu.text(pv, 'UniqueDeviceID') == udid) or (
                    not udid and xu.text(pv, 'VolumeName') == name):
                found = pv
    elif kind == 'LogicalUnit':
        name = xu.text(stg_el, 'UnitName')
        for lu in sim.store.of_type('LogicalUnit'):
            if (udid and lu.text('UniqueDeviceID') == udid) or (
                    not udid and lu.text('UnitName') == name):
                found = lu.element
    else:
        raise errors.BadRequest('Mapping storage of type %s is not modelled'
                                % kind)
    if found is None:
        raise errors.BadRequest(
            '%s %s is not known to Virtual I/O Server %s' % (
                kind, udid or xu.text(stg_el, 'DiskName') or xu.text(
                    stg_el, 'MediaName') or xu.text(stg_el, 'VolumeName') or
                xu.text(stg_el, 'UnitName'), vios.text('PartitionName')))
    out = stg.copy_el(found)
    out.tag = '{%s}%s' % (xu.UOM_NS, kind)
    for extra in ('Tag', 'EmulateModel'):
        val = xu.text(stg_el, extra)
        if val is not None:
            stg.ordered_set(out, extra, val, stg._STOR)
    return out


# ---- the VIOS update hook ---------------------------------------------------
@reg.on_update('VirtualIOServer')
def _scsi_update(sim, obj, old, ctx):
    # The storage view (PVs, media repository, pools) is the server's: what
    # the client posted back of it is ignored.
    for name in _VIEW:
        prev = xu.child(old, name)
        cur = xu.child(obj.element, name)
        if prev is not None and cur is not None:
            obj.element.replace(cur, stg.copy_el(prev))
    olds = xu.findall(old, SCSI_PATH)
    # The stored mappings are not changed by the update: each is read once
    # (by an earlier update already, if nothing else changed the VIOS).
    facts = sfacts.Facts(olds, sfacts.stored_memo(obj, old))
    by_tdev = {}
    by_bus_only = {}
    for m in olds:
        f = facts(m)
        if f['tdev']:
            by_tdev[f['tdev']] = m
        else:
            by_bus_only[f['sudid']] = m
    kept = set()
    new_maps = []
    pairs = []
    for m in xu.findall(obj.element, SCSI_PATH):
        t = sfacts.tdev_udid(m)
        prev = by_tdev.get(t) if t else None
        if prev is not None and not _same_storage(m, facts(prev)):
            # Its storage dropped or replaced: NovaLink applies that (the
            # device is unmapped, or remapped), it does not keep the stored.
            prev = None
        if prev is None and t is None and sfacts.storage_el(m) is None:
            prev = by_bus_only.get(xu.text(m, 'ServerAdapter/UniqueDeviceID'))
        if prev is not None and id(prev) not in kept:
            kept.add(id(prev))
            pairs.append((m, prev))
        else:
            new_maps.append(m)
    _keep_stored(old, pairs, ctx)
    apply_mappings(sim, obj, olds, new_maps, len(kept) == len(olds), facts,
                   ctx)


def _same_storage(m, stored):
    """Whether posted mapping m names the storage of the stored one.

    ``stored``: the stored mapping's facts.  pypowervm detaches storage by
    posting a mapping without it (``scsi_mapper.detach_storage``) and swaps
    the medium of a mapping by posting it with another storage element
    (``_modify_storage_elem``): neither is the stored mapping kept.
    """
    s = sfacts.storage_el(m)
    return (s is not None and stored['storage'] is not None and
            sfacts.storage_id(s) == stored['storage'])


def apply_mappings(sim, obj, olds, new_maps, all_kept, facts, ctx):
    """Check and fill the new mappings of an update (``new_maps``, already
    in obj.element among the stored ones kept), publish client slots.

    ``olds``: the stored mappings before the update; ``all_kept``: whether
    every one of them is still there.
    """
    if not new_maps and all_kept:
        sfacts.keep_memo(obj, facts, ctx)
        return
    if not new_maps:
        # Only removals: what is left was stored (and checked) as it is.
        refresh_client_slots(sim, facts)
        sfacts.keep_memo(obj, facts, ctx)
        return
    taken = {}
    buses = _Buses(olds, facts)
    for m in new_maps:
        _fill_scsi(sim, obj, m, buses, taken, facts)
    key = sfacts.duplicate_pair(obj.element, facts)
    if key is not None:
        raise errors.SimError(
            409, 'Storage %s is already mapped to this partition '
            'through Virtual I/O Server %s' % (
                key[1][1], obj.text('PartitionName')))
    refresh_client_slots(sim, facts)
    sfacts.keep_memo(obj, facts, ctx)


class _Buses(object):
    """{server adapter UDID: the last of olds on it} plus what is set.

    Counted on first read (most updates read none).
    """

    def __init__(self, olds, facts):
        self._src, self._map, self._set = (olds, facts), None, {}

    def _all(self):
        if self._map is None:
            olds, facts = self._src
            self._map = {facts(m)['sudid']: m for m in olds}
            self._map.update(self._set)
        return self._map

    def get(self, key):
        return self._all().get(key)

    def items(self):
        return self._all().items()

    def __setitem__(self, key, val):
        (self._set if self._map is None else self._map)[key] = val


def _keep_stored(old, pairs, ctx):
    """Put each stored mapping in place of the posted one standing for it.

    ``pairs``: [(posted, stored)].  The stored ones are moved out of the
    old element, not copied (copying hundreds of mappings per POST costs
    more than the rest of the update); ``ctx['undo']`` puts them back.
    """
    if not pairs:
        return
    pos = {}
    for par in xu.findall(old, SCSI_PATH.split('/')[0]):
        for idx, c in enumerate(par):
            pos[id(c)] = (idx, par)
    back = sorted((pos[id(prev)] + (prev,) for _m, prev in pairs),
                  key=lambda b: b[0])
    for m, prev in pairs:
        m.getparent().replace(m, prev)

    def put_back():
        # In document order: each goes back among its earlier siblings.
        for idx, par, prev in back:
            par.insert(idx, prev)
    ctx.setdefault('undo', []).append(put_back)


def _fill_scsi(sim, vios, m, buses, taken, facts):
    client = client_of(sim, m)
    if client is None:
        raise errors.BadRequest('The virtual SCSI mapping names no existing '
                                'client partition '
                                '(AssociatedLogicalPartition)')
    cid = client.text('PartitionID')
    vid = vios.text('PartitionID')
    s = sfacts.storage_el(m)
    if s is not None:
        m.find('{%s}Storage' % xu.UOM_NS).replace(
            s, canonical_storage(sim, vios, vios.element, s))
        s = sfacts.storage_el(m)
    sudid = (xu.text(m, 'ServerAdapter/UniqueDeviceID') or
             _bus_in_slot(sim, buses, client, m, facts))
    if sudid:
        bus = buses.get(sudid)
        if bus is None or client_of(sim, bus) is not client:
            raise errors.BadRequest('Server adapter %s is not an adapter of '
                                    'this partition on %s' % (
                                        sudid, vios.text('PartitionName')))
        for name in ('ClientAdapter', 'ServerAdapter'):
            src = xu.child(bus, name)
            if src is not None:
                old = xu.child(m, name)
                if old is not None:
                    m.replace(old, stg.copy_el(src))
                else:
                    m.append(stg.copy_el(src))
        sslot = xu.text(m, 'ServerAdapter/VirtualSlotNumber')
    else:
        cslot = pick_client_slot(sim, m, client, taken)
        used = server_slots(sim, vios, facts=facts) | taken.setdefault(
            vios.key, set())
        sslot = free_slot(used, first=11)
        taken[vios.key].add(sslot)
        sloc, cloc = LOC % (vid, sslot), LOC % (cid, cslot)
        vhosts = sfacts.vhosts(vios.element, facts)
        n = 0
        while 'vhost%d' % n in vhosts:
            n += 1
        build_adapter(m, 'ClientAdapter', (
            ('AdapterType', 'Client'),
            ('DynamicReconfigurationConnectorName', cloc),
            ('LocationCode', cloc), ('LocalPartitionID', cid),
            ('RequiredAdapter', 'false'), ('VariedOn', 'true'),
            ('VirtualSlotNumber', cslot), ('RemoteLogicalPartitionID', vid),
            ('RemoteSlotNumber', sslot), ('ServerLocationCode', sloc)))
        build_adapter(m, 'ServerAdapter', (
            ('AdapterType', 'Server'),
            ('DynamicReconfigurationConnectorName', sloc),
            ('LocationCode', sloc), ('LocalPartitionID', vid),
            ('RequiredAdapter', 'false'), ('VariedOn', 'true'),
            ('VirtualSlotNumber', sslot), ('AdapterName', 'vhost%d' % n),
            ('RemoteLogicalPartitionID', cid), ('RemoteSlotNumber', cslot),
            ('ServerLocationCode', cloc), ('UniqueDeviceID', '1e' + sloc)))
        buses[xu.text(m, 'ServerAdapter/UniqueDeviceID')] = m
    if s is not None:
        stg.ordered_set(xu.child(m, 'ServerAdapter'), 'BackingDeviceName',
                        stg.base_name(xu.text(s, 'DiskName') or xu.text(
                            s, 'MediaName') or xu.text(s, 'VolumeName') or
                            xu.text(s, 'UnitName')), ADPT_ORDER)
        _target_device(vios, m, s, sslot, facts)
    else:
        # A bus without a device (detached storage): no backing device.
        stg.remove_child(m, 'TargetDevice')
        stg.remove_child(xu.child(m, 'ServerAdapter'), 'BackingDeviceName')
    reorder(m, ('AssociatedLogicalPartition', 'ClientAdapter',
                'ServerAdapter', 'Storage', 'TargetDevice'))


def _bus_in_slot(sim, buses, client, m, facts):
    """The server UDID of this VIOS's adapter pair to ``client`` in the
    client slot ``m`` asks for (None: no such pair).

    A mapping that names the client slot of an existing adapter pair of
    this VIOS and partition joins that pair, as one whose ServerAdapter
    names it does (several devices on one vSCSI bus).
    """
    want = xu.text(m, 'ClientAdapter/VirtualSlotNumber')
    if not want or xu.text(m, 'ClientAdapter/UseNextAvailableSlotID') == \
            'true':
        return None
    for sudid, bus in buses.items():
        f = facts(bus)
        if (sudid and f['cslot'] == want and
                client_of(sim, bus) is client):
            return sudid
    return None


def _target_device(vios, m, s, sslot, facts):
    td_type, prefix = _TD_TYPES[xu.localname(s)]
    td = xu.child(m, 'TargetDevice')
    want = td[0] if td is not None and len(td) else None
    names, luas = sfacts.targets(vios.element, m, sslot, facts)
    name = xu.text(want, 'TargetName') if want is not None else None
    if name and name in names:
        raise errors.SimError(409, 'Target device name %s is in use on %s'
                              % (name, vios.text('PartitionName')))
    n = 0
    while name is None:
        if '%s%d' % (prefix, n) not in names:
            name = '%s%d' % (prefix, n)
        n += 1
    lua = xu.text(want, 'LogicalUnitAddress') if want is not None else None
    k = 1
    while lua is None:
        if '0x8%d00000000000000' % k not in luas:
            lua = '0x8%d00000000000000' % k
        k += 1
    new_td = etree.Element('{%s}TargetDevice' % xu.UOM_NS,
                           attrib={'kb': 'CUR', 'kxe': 'false'})
    dev = etree.SubElement(new_td, '{%s}%s' % (xu.UOM_NS, td_type),
                           attrib={'schemaVersion': 'V1_0'})
    xu.metadata(dev)
    xu.make(dev, 'LogicalUnitAddress', lua)
    xu.make(dev, 'TargetName', name)
    xu.make(dev, 'UniqueDeviceID', '09%016x' % random.getrandbits(64))
    if td is not None:
        m.replace(td, new_td)
    else:
        m.append(new_td)


# ---- cascade on partition delete --------------------------------------
def _cascade(sim, obj, ctx):
    if obj.text('PartitionState') in partition.ACTIVE:
        return
    uid = obj.uuid.upper()
    pid = obj.text('PartitionID')
    for vios in sim.store.of_type('VirtualIOServer'):
        if vios is obj:
            continue
        if vios.text('ResourceMonitoringControlState') != 'active':
            # A VIOS that is down (or without RMC) cannot be told: its
            # mappings to the partition stay behind, stale, as on a real
            # host (pypowervm's scrubbers exist for them).
            continue
        # What updates read of the SCSI mappings, if nothing changed since.
        memo = sfacts.stored_memo(vios, vios.element) or {}
        gone = [m for m in all_maps(vios.element)
                if _of_client(_client_key(m, memo), uid, pid)]
        for m in gone:
            m.getparent().remove(m)
            port_name = xu.text(m, 'Port/PortName')
            for p in (xu.descendants(vios.element, 'PhysicalFibreChannelPort')
                      if port_name else ()):
                if xu.text(p, 'PortName') == port_name:
                    xu.set_text(p, 'AvailablePorts', int(
                        xu.text(p, 'AvailablePorts') or 0) + 1)
        if gone:
            sim.store.touch(vios)
    sim.extra.pop(('slots', obj.key), None)


def _client_key(m, memo):
    """client_key_of(m), from the VIOS's memo (sfacts) when it has m."""
    got = memo.get(id(m))
    if got is not None and got[0] is m:
        return got[1]['client']
    return client_key_of(m)


def _of_client(key, uid, pid):
    """Whether a mapping's client_key_of is partition (uid, pid)'s."""
    return key[0] == uid or (not key[0] and key[1] == pid)


reg.on_delete('LogicalPartition')(_cascade)
reg.on_delete('VirtualIOServer')(_cascade)


@reg.snapshot('scsi_mappings')
def _snap_scsi(sim):
    out = []
    for vios in stg.vioses(sim):
        for m in xu.findall(vios.element, SCSI_PATH):
            s = sfacts.storage_el(m)
            out.append({
                'vios': vios.text('PartitionName'),
                'client': client_key_of(m)[0],
                'client_slot': xu.text(m, 'ClientAdapter/VirtualSlotNumber'),
                'server_slot': xu.text(m, 'ServerAdapter/VirtualSlotNumber'),
                'storage_type': xu.localname(s) if s is not None else None,
                'storage': stg.base_name(
                    xu.text(s, 'DiskName') or xu.text(s, 'MediaName') or
                    xu.text(s, 'VolumeName') or xu.text(s, 'UnitName'))
                if s is not None else None,
                'target': xu.text(xu.child(m, 'TargetDevice')[0],
                                  'TargetName')
                if sfacts.tdev_udid(m) else None})
    return sorted(out, key=lambda d: sorted((k, str(v))
                                            for k, v in d.items()))
