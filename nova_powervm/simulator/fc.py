"""Fibre Channel: physical ports, hdisk discovery/removal, NPIV.

* Each VIOS has two physical FC ports (``fcs0``/``fcs1``, from the recorded
  VIOS data; WWPNs in ``PartitionIOConfiguration``), NPIV capable (64
  virtual ports each; ``AvailablePorts`` drops with every virtual FC
  mapping).
* ``LUARecovery`` job on a VIOS (``tasks.hdisk.discover_hdisk``): every
  ITL whose initiator is a port of that VIOS reaches its target unless the
  test made the target unreachable (``sim.set_fc_target_reachable(wwpn,
  False)``).  The first discovery of a LUN gives it a UDID (the same on
  every VIOS); a VIOS that did not know the LUN gets a new ``hdiskN``
  PhysicalVolume.  Status 3 (all paths), 8 (some paths), 1 (already mapped)
  or 6 (no path, no device).  Running it again for a known device is the
  rescan an extend does.
* ``RemoveDevice`` job (``remove_hdisk``): removes the PhysicalVolume
  (refused while mapped).
* ``GetNextWWPNs`` job on the ManagedSystem (``build_wwpn_pair``).
* Virtual FC mappings (``ViosFCMapping`` group) added/removed by a VIOS
  POST: server-filled client/server adapters (slots, vfchostN, connecting
  IDs), client WWPNs (generated when absent), the full backing ``Port``.

The VIOS's PhysicalVolumes are a server-side view: hdisk discovery changes
them without a new VIOS etag (a VIOS feed read before discovery still
updates mappings with one POST); a client POST cannot change them.
"""
import itertools

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import storage_scsi as scsi
from nova_powervm.simulator import xmlutil as xu

IN_USE, AVAILABLE, INCORRECT_ITL, ITL_ERR = '1', '3', '6', '8'
NPIV_PORTS = 64
VFC_ORDER = ('AssociatedLogicalPartition', 'ClientAdapter', 'Port',
             'ServerAdapter', 'Storage')


def norm_wwpn(wwpn):
    return (wwpn or '').replace(':', '').lower()


def ports(vios_el):
    return xu.descendants(vios_el, 'PhysicalFibreChannelPort')


def _shared(sim):
    """Scratch space of the storage-area network (all hosts of a San).

    LUN identities (a LUN has the same UDID from every host) and the
    generated virtual WWPNs (unique in the fabric).
    """
    san = getattr(sim, 'san', None)
    return san.extra if san is not None else sim.extra


def _unreachable(sim):
    return sim.extra.setdefault('fc_unreachable', set())


@reg.control('set_fc_target_reachable')
def set_fc_target_reachable(sim, wwpn, reachable=True):
    """Make a storage target port (un)reachable from every VIOS."""
    with sim.lock:
        if reachable:
            _unreachable(sim).discard(norm_wwpn(wwpn))
        else:
            _unreachable(sim).add(norm_wwpn(wwpn))


@reg.seeder
def _seed_ports(sim):
    index = getattr(sim, 'host_index', 0)
    for vios in stg.vioses(sim):
        for p in ports(vios.element):
            if index:
                # Another host's adapters: their own WWPNs (one byte).
                w = xu.text(p, 'WWPN')
                xu.set_text(p, 'WWPN', '%s%02X%s' % (
                    w[:8], int(w[8:10], 16) ^ index, w[10:]))
            stg.ordered_set(p, 'TotalPorts', NPIV_PORTS, ('AvailablePorts',
                                                          'TotalPorts'))
            xu.set_text(p, 'AvailablePorts', NPIV_PORTS)
        vios.cache.clear()


# ---- hdisks -------------------------------------------------------------
def _lun_of(sim, paths):
    """The LUN id behind (target, lun) paths (registered on first sight)."""
    luns = _shared(sim).setdefault('fc_luns', {})
    for path in paths:
        if path in luns:
            lun_id = luns[path]
            break
    else:
        seq = _shared(sim).setdefault('fc_lun_seq', itertools.count(1))
        lun_id = next(seq)
    for path in paths:
        luns[path] = lun_id
    return lun_id


def pv_list(vios):
    """The VIOS's PhysicalVolumes element (created if missing)."""
    pvs = xu.child(vios.element, 'PhysicalVolumes')
    if pvs is None:
        pvs = stg.sub(vios.element, 'PhysicalVolumes')
        pvs.set('group', 'ViosStorage')
    return pvs


def next_hdisk_name(pvs):
    """The first free hdiskN name among a PhysicalVolumes element."""
    names = {xu.text(pv, 'VolumeName') for pv in
             xu.findall(pvs, 'PhysicalVolume')}
    n = 0
    while 'hdisk%d' % n in names:
        n += 1
    return 'hdisk%d' % n


def _hdisk(target, lun, name, udid):
    pv = stg.new_el('PhysicalVolume')
    for k, v in (('Description', 'MPIO IBM 2076 FC Disk'),
                 ('LocationCode', 'U78AF.001.WZS04LA-P1-C35-L1-T1-W%s-L%s'
                  % (target.upper(), lun)),
                 ('ReservePolicy', 'SinglePath'),
                 ('ReservePolicyAlgorithm', 'Failover'),
                 ('UniqueDeviceID', udid), ('AvailableForUsage', 'true'),
                 ('VolumeCapacity', 10240), ('VolumeName', name),
                 ('VolumeState', 'active'), ('VolumeUniqueID', udid[2:]),
                 ('IsFibreChannelBacked', 'true')):
        xu.make(pv, k, v)
    return pv


def _lua_output(status, name, udid, msg):
    root = etree.Element('XML_LIST')
    gen = etree.SubElement(root, 'general')
    etree.SubElement(gen, 'cmd_version').text = '3'
    etree.SubElement(gen, 'version').text = '2.0'
    dev = etree.SubElement(etree.SubElement(root, 'deviceList'), 'device')
    etree.SubElement(dev, 'status').text = status
    if name:
        etree.SubElement(dev, 'pvName').text = name
        etree.SubElement(dev, 'udid').text = udid
    etree.SubElement(etree.SubElement(dev, 'msg'), 'msgText').text = msg
    return etree.tostring(root).decode()


@reg.job('VirtualIOServer', 'LUARecovery')
def _lua_recovery(sim, vios, params, ctx):
    try:
        root = etree.fromstring((params.get('inputXML') or '').encode(),
                                etree.XMLParser(resolve_entities=False,
                                                no_network=True))
    except etree.XMLSyntaxError as e:
        raise errors.JobFailure('LUARecovery: malformed inputXML: %s' % e)
    itls = {(norm_wwpn(i.findtext('Iwwpn')), norm_wwpn(i.findtext('Twwpn')),
             (i.findtext('lua') or '').lower())
            for i in root.iter('itl')}
    if not itls or not all(all(x) for x in itls):
        raise errors.JobFailure('LUARecovery: inputXML lists no complete '
                                'ITL (Iwwpn, Twwpn, lua)')
    mine = {norm_wwpn(xu.text(p, 'WWPN')) for p in ports(vios.element)}
    blocked = _unreachable(sim)
    good = [(t, lun) for i, t, lun in itls if i in mine and t not in blocked]
    if not good:
        return {'OutputXML': _lua_output(
            INCORRECT_ITL, None, None, 'No path to the LUN from the ports '
            'of %s' % vios.text('PartitionName'))}
    lun_id = _lun_of(sim, sorted(set(good)))
    udid = '01M0lCTTIxNDUxMjQ2MDA1MDc2RDAyODEwMTg3RTAw%08d' % lun_id
    pvs = pv_list(vios)
    found = [pv for pv in xu.findall(pvs, 'PhysicalVolume')
             if xu.text(pv, 'UniqueDeviceID') == udid]
    if found:
        name = xu.text(found[0], 'VolumeName')
    else:
        name = next_hdisk_name(pvs)
        pvs.append(_hdisk(good[0][0], good[0][1], name, udid))
        vios.cache.clear()
    if stg.storage_in_use(sim, vios.key, udid):
        status = IN_USE
    else:
        status = AVAILABLE if len(good) == len(itls) else ITL_ERR
    return {'OutputXML': _lua_output(status, name, udid,
                                     'Device %s found' % name)}


@reg.job('VirtualIOServer', 'RemoveDevice')
def _remove_device(sim, vios, params, ctx):
    name = params.get('devName')
    pvs = pv_list(vios)
    for pv in xu.findall(pvs, 'PhysicalVolume'):
        if xu.text(pv, 'VolumeName') != name:
            continue
        udid = xu.text(pv, 'UniqueDeviceID')
        if stg.storage_in_use(sim, vios.key, udid):
            raise errors.JobFailure('rmdev: device %s is busy (mapped by a '
                                    'virtual SCSI mapping)' % name)
        for vg in stg.vgs_of(sim, vios.key):
            if any(xu.text(p, 'UniqueDeviceID') == udid for p in
                   xu.findall(vg.element, 'PhysicalVolumes/PhysicalVolume')):
                raise errors.JobFailure('rmdev: device %s belongs to volume '
                                        'group %s' % (name,
                                                      vg.text('GroupName')))
        pvs.remove(pv)
        vios.cache.clear()
        return {}
    raise errors.JobFailure('rmdev: device %s is not defined on %s'
                            % (name, vios.text('PartitionName')))


# ---- NPIV ---------------------------------------------------------------
def _used_wwpns(sim):
    used = set()
    san = getattr(sim, 'san', None)
    for host in san.members() if san is not None else [sim]:
        for vios in host.store.of_type('VirtualIOServer'):
            for w in xu.descendants(vios.element, 'WWPNs'):
                used.update(norm_wwpn(x) for x in (w.text or '').split())
    return used


def new_wwpns(sim, count):
    seq = _shared(sim).setdefault('fc_wwpn_seq', itertools.count(0x1000))
    used = _used_wwpns(sim)
    out = []
    while len(out) < count:
        w = 'c05076%010x' % next(seq)
        if w not in used:
            out.append(w.upper())
    return out


@reg.job('ManagedSystem', 'GetNextWWPNs')
def _next_wwpns(sim, ms, params, ctx):
    try:
        pairs = int(params.get('numberPairsRequested') or '1')
    except ValueError:
        raise errors.JobFailure('numberPairsRequested %r is not a number'
                                % params.get('numberPairsRequested'))
    if not 1 <= pairs <= 8:
        raise errors.JobFailure('numberPairsRequested must be 1 to 8, got '
                                '%d' % pairs)
    return {'wwpnList': ','.join(new_wwpns(sim, 2 * pairs))}


def _port_by_name(vios_el, name):
    for p in ports(vios_el):
        if xu.text(p, 'PortName') == name:
            return p
    return None


def _set_avail(port, delta):
    cur = int(xu.text(port, 'AvailablePorts') or NPIV_PORTS) + delta
    if cur < 0:
        raise errors.SimError(409, 'Physical port %s has no free NPIV ports'
                              % xu.text(port, 'PortName'))
    xu.set_text(port, 'AvailablePorts', cur)


@reg.on_update('VirtualIOServer')
def _vfc_update(sim, obj, old, ctx):
    olds = {xu.text(m, 'ServerAdapter/UniqueDeviceID'): m
            for m in xu.findall(old, scsi.VFC_PATH)}
    kept = set()
    new_maps = []
    for m in xu.findall(obj.element, scsi.VFC_PATH):
        prev = olds.get(xu.text(m, 'ServerAdapter/UniqueDeviceID'))
        if prev is not None and id(prev) not in kept:
            kept.add(id(prev))
            keep = stg.copy_el(prev)
            if xu.child(prev, 'Port') is None and \
                    xu.child(m, 'Port') is not None:
                _fill_port(obj, keep, xu.text(m, 'Port/PortName'))
            m.getparent().replace(m, keep)
        else:
            new_maps.append(m)
    if not new_maps and len(kept) == len(olds):
        return
    for sudid, m in olds.items():
        if id(m) not in kept and xu.child(m, 'Port') is not None:
            port = _port_by_name(obj.element, xu.text(m, 'Port/PortName'))
            if port is not None:
                _set_avail(port, +1)
    taken = {}
    for m in new_maps:
        _fill_vfc(sim, obj, m, taken)
    seen = set()
    for m in xu.findall(obj.element, scsi.VFC_PATH):
        wwpns = tuple(sorted(norm_wwpn(w) for w in (xu.text(
            m, 'ClientAdapter/WWPNs') or '').split()))
        if wwpns in seen:
            raise errors.SimError(409, 'Client WWPNs %s are used by two '
                                  'mappings' % ' '.join(wwpns))
        seen.add(wwpns)
    scsi.refresh_client_slots(sim)


def _fill_port(vios, m, port_name):
    port = _port_by_name(vios.element, port_name)
    if port is None:
        raise errors.BadRequest('Virtual I/O Server %s has no physical FC '
                                'port %s' % (vios.text('PartitionName'),
                                             port_name))
    if int(xu.text(port, 'TotalPorts') or 0) <= 0:
        raise errors.BadRequest('Physical port %s is not NPIV capable'
                                % port_name)
    _set_avail(port, -1)
    new = stg.copy_el(port)
    new.tag = '{%s}Port' % xu.UOM_NS
    old = xu.child(m, 'Port')
    if old is not None:
        m.replace(old, new)
    else:
        m.append(new)
    sa = xu.child(m, 'ServerAdapter')
    if sa is not None:
        stg.ordered_set(sa, 'MapPort', port_name, scsi.ADPT_ORDER)
    scsi.reorder(m, VFC_ORDER)


def _fill_vfc(sim, vios, m, taken):
    client = scsi.client_of(sim, m)
    if client is None:
        raise errors.BadRequest('The virtual FC mapping names no existing '
                                'client partition')
    cid, vid = client.text('PartitionID'), vios.text('PartitionID')
    wwpns = (xu.text(m, 'ClientAdapter/WWPNs') or '').split()
    if wwpns and len(wwpns) != 2:
        raise errors.BadRequest('A client FC adapter needs two WWPNs, got %s'
                                % ' '.join(wwpns))
    if wwpns and set(norm_wwpn(w) for w in wwpns) & _used_wwpns_except(
            sim, vios, m):
        raise errors.SimError(409, 'Client WWPNs %s are already in use'
                              % ' '.join(wwpns))
    wwpns = [w.upper() for w in wwpns] or new_wwpns(sim, 2)
    cslot = scsi.pick_client_slot(sim, m, client, taken)
    used = scsi.server_slots(sim, vios) | taken.setdefault(vios.key, set())
    sslot = scsi.free_slot(used, first=11)
    taken[vios.key].add(sslot)
    sloc, cloc = scsi.LOC % (vid, sslot), scsi.LOC % (cid, cslot)
    hosts = {xu.text(x, 'ServerAdapter/AdapterName')
             for x in xu.findall(vios.element, scsi.VFC_PATH)}
    n = 0
    while 'vfchost%d' % n in hosts:
        n += 1
    port_name = xu.text(m, 'Port/PortName')
    scsi.build_adapter(m, 'ClientAdapter', (
        ('AdapterType', 'Client'),
        ('DynamicReconfigurationConnectorName', cloc),
        ('LocationCode', cloc), ('LocalPartitionID', cid),
        ('RequiredAdapter', 'false'), ('VariedOn', 'true'),
        ('VirtualSlotNumber', cslot), ('ConnectingPartitionID', vid),
        ('ConnectingVirtualSlotNumber', sslot),
        ('WWPNs', ' '.join(wwpns)), ('NportLoggedInStatus', 'true')))
    scsi.build_adapter(m, 'ServerAdapter', (
        ('AdapterType', 'Server'),
        ('DynamicReconfigurationConnectorName', sloc),
        ('LocationCode', sloc), ('LocalPartitionID', vid),
        ('RequiredAdapter', 'false'), ('VariedOn', 'true'),
        ('VirtualSlotNumber', sslot), ('AdapterName', 'vfchost%d' % n),
        ('ConnectingPartitionID', cid),
        ('ConnectingVirtualSlotNumber', cslot),
        ('UniqueDeviceID', '1d' + sloc), ('MapPort', port_name)))
    if port_name:
        _fill_port(vios, m, port_name)
    else:
        stg.remove_child(m, 'Port')
    scsi.reorder(m, VFC_ORDER)


def _used_wwpns_except(sim, vios, m):
    used = set()
    for v in sim.store.of_type('VirtualIOServer'):
        el = v.element
        for x in xu.findall(el, scsi.VFC_PATH):
            if x is m:
                continue
            used.update(norm_wwpn(w) for w in (xu.text(
                x, 'ClientAdapter/WWPNs') or '').split())
    return used


@reg.snapshot('vfc_mappings')
def _snap_vfc(sim):
    out = []
    for vios in stg.vioses(sim):
        for m in xu.findall(vios.element, scsi.VFC_PATH):
            out.append({'vios': vios.text('PartitionName'),
                        'client': scsi.client_key_of(m)[0],
                        'client_slot': xu.text(
                            m, 'ClientAdapter/VirtualSlotNumber'),
                        'port': xu.text(m, 'Port/PortName'),
                        'wwpns': xu.text(m, 'ClientAdapter/WWPNs')})
    return sorted(out, key=lambda d: sorted((k, str(v))
                                            for k, v in d.items()))


@reg.snapshot('fc_ports')
def _snap_ports(sim):
    return {'%s/%s' % (v.text('PartitionName'), xu.text(p, 'PortName')): {
        'wwpn': xu.text(p, 'WWPN'),
        'available': int(xu.text(p, 'AvailablePorts') or 0)}
        for v in stg.vioses(sim) for p in ports(v.element)}


@reg.snapshot('hdisks')
def _snap_hdisks(sim):
    return {v.text('PartitionName'): sorted(
        (xu.text(pv, 'VolumeName'), xu.text(pv, 'UniqueDeviceID'))
        for pv in xu.findall(v.element, 'PhysicalVolumes/PhysicalVolume'))
        for v in stg.vioses(sim)}
