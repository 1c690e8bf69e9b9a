"""SR-IOV adapters, vNICs and their logical ports.

Seeded (from pypowervm's recorded ``sys_with_sriov.txt``): two SR-IOV
adapters (SRIOVAdapterID 1 and 2, mode Sriov, Running) under the
ManagedSystem's ``AssociatedSystemIOConfiguration/SRIOVAdapters``, each with
two Ethernet physical ports (PhysicalPortID 2 and 3, at most 4 logical ports,
capacity granularity 2%, link up).  Port 2 of both adapters is labelled
``sriovnet1``, port 3 ``sriovnet2``.  The system and both VIOSes are vNIC
(and vNIC failover) capable.

A ``VirtualNICDedicated`` is created under a LogicalPartition only; each
backing device (VIOS, SRIOVAdapterID, PhysicalPortID, capacity) gets an
``SRIOVEthernetLogicalPort`` under its VIOS (as the recorded ``vnic_feed``
links them) and takes a logical port and its capacity from the physical
port (``ConfiguredEthernetLogicalPorts``, ``AllocatedCapacity``).  Refused
(400, nothing changed): no backing device, an unknown/inactive VIOS,
adapter or port, an adapter not Running in Sriov mode, two backing devices
on one port, a capacity that is not a multiple of the port's granularity,
and no free logical port or capacity left (HSCLB110).  Deleting the vNIC
(or its partition) frees all of it.  Logical ports are not created
directly (only through a vNIC).

Controls: ``sriov_port(loc_code, label=None, link_up=None,
max_lps=None)``.
Snapshot: ``inventory()['sriov']``.
"""
import copy

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import network
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import seed
from nova_powervm.simulator import xmlutil as xu

reg.register_type('VirtualNICDedicated', parents=('LogicalPartition',))
reg.register_type('SRIOVEthernetLogicalPort', parents=('VirtualIOServer',))

LABELS = {'2': 'sriovnet1', '3': 'sriovnet2'}
_TEMPLATE = []
_PORT = 'SRIOVEthernetPhysicalPort'


def _to_bp(pct):
    """'2.0%' -> 200 (hundredths of a percent)."""
    return int(round(float(str(pct).rstrip('%')) * 100))


def _pct(bp):
    return '%.2f%%' % (bp / 100.0)


def _template():
    """The two recorded Sriov adapters, Ethernet ports only (serialized)."""
    if not _TEMPLATE:
        ms = seed.recorded('sys_with_sriov.txt')
        ms = list(ms.values())[0]
        for ad in xu.descendants(ms, 'SRIOVAdapter'):
            if xu.text(ad, 'AdapterMode') != 'Sriov':
                continue
            ad = copy.deepcopy(ad)
            conv = xu.child(ad, 'ConvergedEthernetPhysicalPorts')
            if conv is not None:
                ad.remove(conv)
            for port in xu.descendants(ad, _PORT):
                pid = xu.text(port, 'PhysicalPortID')
                xu.set_text(port, 'Label', LABELS.get(pid, ''))
                xu.set_text(port, 'LinkStatus', 'true')
                xu.set_text(port, 'AllocatedCapacity', _pct(0))
                xu.set_text(port, 'ConfiguredEthernetLogicalPorts', '0')
            _TEMPLATE.append(etree.tostring(ad))
    return _TEMPLATE


def _host(sim):
    return sim.store.of_type('ManagedSystem')[0]


@reg.seeder
def _seed_sriov(sim):
    ms = _host(sim)
    holder = xu.find(ms.element, 'AssociatedSystemIOConfiguration/'
                                 'SRIOVAdapters')
    if holder is None:
        return
    for data in _template():
        choice = xu.make(holder, 'IOAdapterChoice', attrib={})
        choice.append(etree.fromstring(data, xu.parser()))
    caps = xu.child(ms.element, 'AssociatedSystemCapabilities')
    for cap in ('VirtualNICDedicatedSRIOVCapable',
                'VirtualNICFailOverCapable'):
        xu.set_text(caps, cap, 'true', attrib={'kb': 'ROO', 'kxe': 'false'})
    for vios in sim.store.of_type('VirtualIOServer'):
        for cap in ('IsVNICCapable', 'VNICFailOverCapable'):
            xu.set_text(vios.element, cap, 'true')
    sim.store.touch(ms, emit=False)


def adapters(sim):
    return xu.descendants(_host(sim).element, 'SRIOVAdapter')


def _find_port(sim, adapter_id, port_id):
    for ad in adapters(sim):
        if xu.text(ad, 'SRIOVAdapterID') == adapter_id:
            for port in xu.descendants(ad, _PORT):
                if xu.text(port, 'PhysicalPortID') == port_id:
                    return ad, port
            return ad, None
    return None, None


def _uuid_of(href):
    return (href or '').rstrip('/').rsplit('/', 1)[-1].split('?')[0]


def _check_backdev(sim, bd, seen):
    """(vios, adapter, port, capacity bp) of a backing device, or 400."""
    link = xu.child(bd, 'AssociatedVirtualIOServer')
    vios = sim.store.get('VirtualIOServer', _uuid_of(
        link.get('href') if link is not None else None).upper())
    if vios is None:
        raise errors.BadRequest('HSCLB101 The Virtual I/O Server of a vNIC '
                                'backing device does not exist')
    if vios.text('PartitionState') != 'running' or \
            vios.text('IsVNICCapable') != 'true':
        raise errors.BadRequest('HSCLB102 Virtual I/O Server %s cannot host '
                                'a vNIC server now' %
                                vios.text('PartitionName'))
    aid = xu.text(bd, 'RelatedSRIOVAdapterID')
    pid = xu.text(bd, 'RelatedSRIOVPhysicalPortID')
    ad, port = _find_port(sim, aid, pid)
    if ad is None or port is None:
        raise errors.BadRequest('HSCLB103 SR-IOV adapter %s has no physical '
                                'port %s' % (aid, pid))
    if (xu.text(ad, 'AdapterMode'), xu.text(ad, 'AdapterState')) != (
            'Sriov', 'Running'):
        raise errors.BadRequest('HSCLB104 SR-IOV adapter %s is not running '
                                'in shared (Sriov) mode' % aid)
    if (aid, pid) in seen:
        raise errors.BadRequest('HSCLB105 A vNIC can have only one backing '
                                'device on physical port %s' %
                                xu.text(port, 'LocationCode'))
    seen.add((aid, pid))
    gran = _to_bp(xu.text(port, 'MinimumEthernetCapacityGranularity'))
    raw = xu.text(bd, 'CurrentCapacityPercentage')
    try:
        cap = _to_bp(raw) if raw else gran
    except ValueError:
        raise errors.BadRequest('HSCLB106 Capacity %r is not a percentage'
                                % raw)
    if cap < gran or cap > 10000 or cap % gran:
        raise errors.BadRequest(
            'HSCLB106 Capacity %s of port %s is not a multiple of its '
            'granularity %s' % (_pct(cap), xu.text(port, 'LocationCode'),
                                _pct(gran)))
    used = int(xu.text(port, 'ConfiguredEthernetLogicalPorts', '0'))
    limit = int(xu.text(port, 'ConfiguredMaxEthernetLogicalPorts', '0'))
    alloc = _to_bp(xu.text(port, 'AllocatedCapacity', '0%'))
    if used >= limit or alloc + cap > 10000:
        raise errors.BadRequest(
            'HSCLB110 Physical port %s has not enough free resources: '
            '%d of %d logical ports and %s capacity are in use, %s asked'
            % (xu.text(port, 'LocationCode'), used, limit, _pct(alloc),
               _pct(cap)))
    return vios, ad, port, cap


def _take(port, lps, cap):
    xu.set_text(port, 'ConfiguredEthernetLogicalPorts',
                int(xu.text(port, 'ConfiguredEthernetLogicalPorts', '0')) +
                lps)
    xu.set_text(port, 'AllocatedCapacity', _pct(max(
        _to_bp(xu.text(port, 'AllocatedCapacity', '0%')) + cap, 0)))


def _new_lport(sim, vios, ad, port, cap, mac, part):
    el = etree.Element(etree.QName(xu.UOM_NS, 'SRIOVEthernetLogicalPort'),
                       attrib={'schemaVersion': 'V1_3_0'},
                       nsmap={None: xu.UOM_NS})
    uid = sim.new_uuid('SRIOVEthernetLogicalPort')
    xu.metadata(el, uid)
    count = sim.extra.get('sriov_lport_seq', 0) + 1
    sim.extra['sriov_lport_seq'] = count
    aid = xu.text(ad, 'SRIOVAdapterID')
    for name, val in (
            ('ConfigurationID', 0), ('LogicalPortID', 654327808 + count),
            ('AdapterID', aid),
            ('DynamicReconfigurationConnectorName', 'PHB %d' % (4096 + count)),
            ('IsFunctional', 'true'), ('IsPromiscous', 'false'),
            ('IsDiagnostic', 'false'), ('IsHugeDMA', 'false'),
            ('DeviceName', 'unavailable'),
            ('ConfiguredCapacity', _pct(cap)),
            ('ConfiguredMaxCapacity', '100.0%'),
            ('PhysicalPortID', xu.text(port, 'PhysicalPortID')),
            ('PortVLANID', 0),
            ('LocationCode', '%s-S%d' % (xu.text(port, 'LocationCode'),
                                         count)),
            ('TuningBufferID', -1), ('VNICPortUsage', 'DEDICATED_VNIC'),
            ('AllowedMACAddresses', 'ALL'), ('MACAddress', mac),
            ('CurrentMACAddress', mac),
            ('IEEE8021QAllowablePriorities', 0), ('IEEE8021QPriority', 0),
            ('AllowedVLANs', 'ALL')):
        xu.make(el, name, val)
    xu.link(el, 'AssociatedLogicalPartitions', sim.store.href(part))
    return sim.store.add('SRIOVEthernetLogicalPort', uid, el,
                         parent=vios.key)


@reg.on_create('VirtualNICDedicated')
def _vnic_create(sim, obj, ctx):
    el = obj.element
    part = sim.store.get(*obj.parent) if obj.parent else None
    if part is None or part.type != 'LogicalPartition':
        raise errors.BadRequest('A VirtualNICDedicated needs a logical '
                                'partition')
    bds = xu.findall(el, 'AssociatedBackingDevices/'
                         'VirtualNICBackingDeviceChoice/'
                         'VirtualNICSRIOVBackingDevice')
    if not bds:
        raise errors.BadRequest('HSCLB100 A vNIC needs at least one backing '
                                'device')
    seen = set()
    checked = [_check_backdev(sim, bd, seen) for bd in bds]
    mac = xu.text(el, 'Details/MACAddress') or network.new_mac(sim)
    mac = mac.upper().replace(':', '')
    pvid = xu.text(el, 'Details/PortVLANID', '0')
    if not pvid.isdigit() or int(pvid) > 4094:
        raise errors.BadRequest('PortVLANID %r is not a VLAN id' % pvid)
    # Validated: now allocate (nothing above changed anything).
    slot = network.next_slot(sim, part.key)
    for tag in ('UseNextAvailableSlotID', 'UseNextAvailableHighSlotID'):
        found = xu.child(el, tag)
        if found is not None:
            el.remove(found)
    xu.set_text(el, 'DynamicReconfigurationConnectorName',
                'U8247.22L.2125D4A-V%s-C%s' % (part.text('PartitionID'), slot))
    xu.set_text(el, 'LocalPartitionID', part.text('PartitionID'))
    xu.set_text(el, 'VirtualSlotNumber', slot)
    xu.set_text(el, 'Details/MACAddress', mac)
    xu.set_text(el, 'Details/PortVLANID', pvid)
    xu.set_text(el, 'Details/DesiredMode', 'DEDICATED')
    xu.set_text(el, 'Details/DesiredCapacityPercentage', _pct(checked[0][3]))
    for bd, (vios, ad, port, cap) in zip(bds, checked):
        lport = _new_lport(sim, vios, ad, port, cap, mac, part)
        _take(port, 1, cap)
        for name, val in (('DeviceType', 'SRIOV'), ('IsActive', 'true'),
                          ('Status', 'OPERATIONAL'),
                          ('CurrentCapacityPercentage', _pct(cap)),
                          ('MaxCapacityPercentage', '100.0%'),
                          ('DesiredCapacityPercentage', _pct(cap)),
                          ('DesiredMaxCapacityPercentage', '100.0%')):
            xu.set_text(bd, name, val)
        old = xu.child(bd, 'RelatedSRIOVLogicalPort')
        if old is not None:
            bd.remove(old)
        xu.link(bd, 'RelatedSRIOVLogicalPort', sim.store.href(lport))
    sim.store.touch(_host(sim), emit=False)


@reg.on_update('VirtualNICDedicated')
def _vnic_update(sim, obj, old, ctx):
    # Backing devices and the MAC are server-owned once created.
    for path in ('AssociatedBackingDevices', 'VirtualSlotNumber',
                 'LocalPartitionID'):
        was = xu.find(old, path)
        now = xu.find(obj.element, path)
        if was is not None:
            if now is not None:
                obj.element.replace(now, copy.deepcopy(was))
            else:
                obj.element.append(copy.deepcopy(was))
    mac = xu.text(old, 'Details/MACAddress')
    if mac:
        xu.set_text(obj.element, 'Details/MACAddress', mac)


def _lport_of(sim, bd):
    link = xu.child(bd, 'RelatedSRIOVLogicalPort')
    if link is None:
        return None
    return sim.store.find(_uuid_of(link.get('href')))


@reg.on_delete('VirtualNICDedicated')
def _vnic_delete(sim, obj, ctx):
    for bd in xu.descendants(obj.element, 'VirtualNICSRIOVBackingDevice'):
        lport = _lport_of(sim, bd)
        if lport is not None:
            sim.store.remove(lport, ctx)
    sim.store.touch(_host(sim))


@reg.on_create('SRIOVEthernetLogicalPort')
def _lport_create(sim, obj, ctx):
    raise errors.BadRequest('SR-IOV logical ports of this host are created '
                            'only through a vNIC (VirtualNICDedicated)')


@reg.on_delete('SRIOVEthernetLogicalPort')
def _lport_delete(sim, obj, ctx):
    _ad, port = _find_port(sim, obj.text('AdapterID'),
                           obj.text('PhysicalPortID'))
    if port is not None:
        _take(port, -1, -_to_bp(obj.text('ConfiguredCapacity', '0%')))


@reg.control('sriov_port')
def sriov_port(sim, loc_code, label=None, link_up=None, max_lps=None):
    """Set a physical port's Label, LinkStatus, logical port limit."""
    with sim.lock:
        for ad in adapters(sim):
            for port in xu.descendants(ad, _PORT):
                if xu.text(port, 'LocationCode') == loc_code:
                    if label is not None:
                        xu.set_text(port, 'Label', label)
                    if max_lps is not None:
                        xu.set_text(port, 'ConfiguredMaxEthernetLogicalPorts',
                                    int(max_lps))
                    if link_up is not None:
                        xu.set_text(port, 'LinkStatus',
                                    'true' if link_up else 'false')
                    sim.store.touch(_host(sim))
                    return
    raise errors.NotFound('No SR-IOV physical port %s' % loc_code)


@reg.snapshot('sriov')
def _snap(sim):
    ports = []
    for ad in adapters(sim):
        for port in xu.descendants(ad, _PORT):
            ports.append({
                'adapter': xu.text(ad, 'SRIOVAdapterID'),
                'port': xu.text(port, 'PhysicalPortID'),
                'loc': xu.text(port, 'LocationCode'),
                'label': xu.text(port, 'Label') or '',
                'lps': int(xu.text(port, 'ConfiguredEthernetLogicalPorts',
                                   '0')),
                'max_lps': int(xu.text(
                    port, 'ConfiguredMaxEthernetLogicalPorts', '0')),
                'allocated': xu.text(port, 'AllocatedCapacity')})
    vnics = {}
    for v in sim.store.of_type('VirtualNICDedicated'):
        vnics[v.uuid] = {
            'partition': v.parent[1], 'mac': v.text('Details/MACAddress'),
            'pvid': v.text('Details/PortVLANID'),
            'backing': sorted(
                '%s/%s' % (xu.text(bd, 'RelatedSRIOVAdapterID'),
                           xu.text(bd, 'RelatedSRIOVPhysicalPortID'))
                for bd in xu.descendants(v.element,
                                         'VirtualNICSRIOVBackingDevice'))}
    lports = {o.uuid: {'vios': o.parent[1], 'adapter': o.text('AdapterID'),
                       'port': o.text('PhysicalPortID'),
                       'capacity': o.text('ConfiguredCapacity'),
                       'mac': o.text('MACAddress')}
              for o in sim.store.of_type('SRIOVEthernetLogicalPort')}
    return {'ports': ports, 'vnics': vnics, 'logical_ports': lports}
