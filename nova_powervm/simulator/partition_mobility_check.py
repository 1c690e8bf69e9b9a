"""Live partition mobility: what MigrateValidate (and Migrate) check.

``plan(sim, lpar, params)`` raises ``errors.JobFailure`` naming the first
problem, or answers a ``Plan``: the target host and, for every virtual SCSI
and virtual FC mapping of the partition, the target VIOS (and FC port) that
will serve it.  Nothing is changed.  The checks follow IBM's "configuration
validation for partition mobility"; the ``HSCL1Bxx`` codes are the
simulator's own (the real texts differ).
"""
import re

from nova_powervm.simulator import errors
from nova_powervm.simulator import fc
from nova_powervm.simulator import partition
from nova_powervm.simulator import partition_mobility_keys as keys
from nova_powervm.simulator import storage_scsi as scsi
from nova_powervm.simulator import xmlutil as xu

NOT_MIGRATING = 'Not_Migrating'
# sim.extra keys: WWPNs the host's fabric refuses to log in (zoning).
NPIV_REFUSED = 'npiv_login_refused'
_PROC = 'AssociatedSystemProcessorConfiguration/'
_MEM = 'AssociatedSystemMemoryConfiguration/'
_CAPS = 'AssociatedSystemCapabilities/'
MIGR = 'SystemMigrationInformation/'
_MAC_RE = re.compile(r'^[0-9A-Fa-f]{12}$')


def fail(code, msg, *args):
    raise errors.JobFailure('HSCL1B%s %s' % (code, msg % args))


class Plan(object):
    """What a validated migration will do (see the module docstring)."""

    def __init__(self, src, dst, lpar, active):
        self.src = src
        self.dst = dst
        self.lpar = lpar
        self.active = active
        self.scsi = []      # (source vios, mapping el, target vios)
        self.vfc = []       # (source vios, mapping el, target vios, port)
        self.cnas = []      # (ClientNetworkAdapter obj, target switch obj)
        self.pvids = {}     # MAC -> (PVID, tagged VLANs) from VlanMappings


def host(sim):
    return sim.store.of_type('ManagedSystem')[0]


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def find_target(sim, name):
    """The simulator (another host of this san) whose system is ``name``."""
    if not name:
        fail('01', 'TargetManagedSystemName is required')
    san = getattr(sim, 'san', None)
    for other in (san.members(sim) if san is not None else []):
        if host(other).text('SystemName') == name:
            return other
    if host(sim).text('SystemName') == name:
        fail('02', 'The partition is already on managed system %s', name)
    fail('03', 'Managed system %s is not known to this management console '
         'or not in its data centre', name)


def _check_console(sim, dst, params):
    # Every host is its own NovaLink: the target's is reached over SSH.
    name = host(dst).text('SystemName')
    if not params.get('TargetRemoteHMCIPAddress'):
        fail('04', 'Managed system %s is managed by another management '
             'console; TargetRemoteHMCIPAddress must name it', name)
    if keys.public_key(sim) not in keys.authorized_keys(dst):
        fail('05', 'The management console of managed system %s does not '
             'authorize the SSH public key of this management console',
             name)


def _running_vios(vios):
    return (vios.text('PartitionState') == 'running' and
            vios.text('ResourceMonitoringControlState') == 'active')


def _ips(vios):
    ips = {xu.text(i, 'IPAddress') for i in
           xu.findall(vios.element, 'IPInterface') +
           xu.descendants(vios.element, 'IPInterface')}
    ips.add(vios.text('ResourceMonitoringIPAddress'))
    return {i for i in ips if i}


def _check_msp(sim, asked, side):
    msps = [v for v in sim.store.of_type('VirtualIOServer')
            if v.text('MoverServicePartition') == 'true' and
            _running_vios(v)]
    if not msps:
        fail('10', 'The %s managed system %s has no running mover service '
             'partition with an active RMC connection', side,
             host(sim).text('SystemName'))
    for ip in (asked or '').split(','):
        ip = ip.strip()
        if ip and not any(ip in _ips(v) for v in msps):
            fail('11', 'No mover service partition of the %s managed system '
                 '%s has the IP address %s', side,
                 host(sim).text('SystemName'), ip)


def _check_partition(sim, dst, lpar, params):
    name = lpar.text('PartitionName')
    if lpar.type != 'LogicalPartition' or \
            lpar.text('IsManagementPartition') == 'true':
        fail('20', 'Partition %s is a Virtual I/O Server or the management '
             'partition and cannot be migrated', name)
    state = lpar.text('PartitionState')
    mig = lpar.text('MigrationState') or NOT_MIGRATING
    if state.startswith('migrating') or mig != NOT_MIGRATING:
        fail('21', 'Partition %s is already migrating (%s)', name, mig)
    if lpar.text('MigrationDisable') == 'true':
        fail('22', 'Migration is disabled for partition %s', name)
    if state == 'running':
        active = True
    elif state == 'not activated':
        active = False
    else:
        fail('23', 'Partition %s cannot be migrated while it is %s; it must '
             'be running (active migration) or not activated (inactive '
             'migration)', name, state)
    kind = 'Active' if active else 'Inactive'
    for s in (sim, dst):
        if host(s).text(_CAPS + kind + 'LogicalPartitionMobilityCapable') \
                != 'true':
            fail('24', 'Managed system %s is not capable of %s partition '
                 'mobility', host(s).text('SystemName'), kind.lower())
    if active:
        if lpar.text('ResourceMonitoringControlState') != 'active':
            fail('25', 'Partition %s has no active RMC connection', name)
        caps = 'PartitionCapabilities/DynamicLogicalPartition'
        if lpar.text(caps + 'MemoryCapable') != 'true' or \
                lpar.text(caps + 'ProcessorCapable') != 'true':
            fail('26', 'Partition %s is not DLPAR capable for memory and '
                 'processors', name)
    if lpar.uuid in sim.extra.get(partition.VTERMS, ()):
        fail('27', 'Partition %s has an open virtual terminal session',
             name)
    if sim.store.children(lpar.key, 'VirtualNICDedicated'):
        fail('28', 'Partition %s has virtual NICs; the simulator does not '
             'model their mobility', name)
    modes = {d.text for d in xu.descendants(
        host(dst).element, 'SupportedPartitionProcessorCompatibilityModes')}
    for field in (('CurrentProcessorCompatibilityMode',) if active else ()) \
            + ('PendingProcessorCompatibilityMode',):
        mode = lpar.text(field)
        if mode and mode not in modes:
            fail('30', 'The processor compatibility mode %s of partition %s '
                 'is not supported by managed system %s (%s)', mode, name,
                 host(dst).text('SystemName'), ', '.join(sorted(modes)))
    procs, mem = partition.allocation(lpar)
    free_p = _num(host(dst).text(_PROC +
                                 'CurrentAvailableSystemProcessorUnits'))
    free_m = _num(host(dst).text(_MEM + 'CurrentAvailableSystemMemory'))
    if procs > free_p + 1e-9 or mem > free_m:
        fail('31', 'Managed system %s has not enough resources for '
             'partition %s (%.2f processing units and %d MB needed, %.2f and '
             '%d MB available)', host(dst).text('SystemName'), name, procs,
             mem, free_p, free_m)
    for s in (sim, dst):
        ms = host(s)
        run = _num(ms.text(MIGR + 'NumberOf%sMigrationsInProgress' % kind))
        top = _num(ms.text(MIGR + 'Maximum%sMigrations' % kind))
        if run >= top:
            fail('32', 'Managed system %s already runs %d of %d %s '
                 'migrations', ms.text('SystemName'), run, top,
                 kind.lower())
    for o in dst.store.of_type('LogicalPartition') + \
            dst.store.of_type('VirtualIOServer'):
        if o.text('PartitionName') == name or o.uuid == lpar.uuid:
            fail('33', 'Managed system %s already has a partition %s',
                 host(dst).text('SystemName'), name)
    pool = params.get('SharedProcPoolID')
    if pool not in (None, '', '0'):
        fail('34', 'Shared processor pool %s does not exist on managed '
             'system %s', pool, host(dst).text('SystemName'))
    return active


def _mapping_args(text, with_port):
    """{client slot: (vios name, vios id, vios slot, port)} of a param."""
    out = {}
    for item in (text or '').split(','):
        item = item.strip()
        if not item:
            continue
        parts = item.split('/')
        if len(parts) < 3 or len(parts) > (5 if with_port else 4) or \
                not parts[0].isdigit() or not (parts[1] or parts[2]):
            fail('40', 'Malformed mapping %r (client-slot/vios-name/'
                 'vios-id%s, name or id)', item,
                 '[/[vios-slot][/[fc-port]]]' if with_port
                 else '[/vios-slot]')
        parts += [''] * (5 - len(parts))
        out[int(parts[0])] = tuple(parts[1:5])
    return out


def _named_vios(dst, arg):
    # pypowervm's vfc_mapper sends both name and ID: they must agree.
    name, vid = arg[0], arg[1]
    for v in dst.store.of_type('VirtualIOServer'):
        if (not name or v.text('PartitionName') == name) and (
                not vid or v.text('PartitionID') == vid):
            return v
    fail('41', 'Virtual I/O Server %s does not exist on managed system %s',
         name or vid, host(dst).text('SystemName'))


def _candidates(dst, src_vios, arg):
    """Target VIOSes to try for a mapping.

    The named one, or all with the source VIOS's name first.
    """
    if arg is not None:
        return [_named_vios(dst, arg)]
    vs = sorted(dst.store.of_type('VirtualIOServer'),
                key=lambda v: v.text('PartitionName'))
    return sorted(vs, key=lambda v: v.text('PartitionName') !=
                  src_vios.text('PartitionName'))


def _cluster_member(sim, vios):
    for cl in sim.store.of_type('Cluster'):
        for node in xu.findall(cl.element, 'Node/Node'):
            link = xu.child(node, 'VirtualIOServer')
            if link is not None and link.get('href', '').upper().endswith(
                    '/' + vios.uuid.upper()):
                return True
    return False


def _sees(dst, vios, stg_el):
    kind = xu.localname(stg_el)
    udid = xu.text(stg_el, 'UniqueDeviceID')
    if kind == 'LogicalUnit':
        return _cluster_member(dst, vios) and any(
            lu.text('UniqueDeviceID') == udid
            for lu in dst.store.of_type('LogicalUnit'))
    return any(xu.text(pv, 'UniqueDeviceID') == udid for pv in
               xu.findall(vios.element, 'PhysicalVolumes/PhysicalVolume'))


def _storage_name(stg_el):
    for f in ('UnitName', 'VolumeName', 'DiskName', 'MediaName'):
        if xu.text(stg_el, f):
            return xu.text(stg_el, f)
    return xu.text(stg_el, 'UniqueDeviceID')


def _check_scsi(plan, vios, m, args):
    name = plan.lpar.text('PartitionName')
    td = xu.child(m, 'TargetDevice')
    kids = [c for c in td if isinstance(c.tag, str)] if td is not None \
        else []
    s = scsi._storage_el(m)
    if (kids and xu.localname(kids[0]) == 'VirtualOpticalTargetDevice') or (
            s is not None and xu.localname(s) == 'VirtualOpticalMedia'):
        fail('50', 'Partition %s has a virtual optical device on %s; remove '
             'it before migrating', name, vios.text('PartitionName'))
    if s is not None and xu.localname(s) not in ('LogicalUnit',
                                                 'PhysicalVolume'):
        fail('51', 'Partition %s uses %s %s of %s, which is not on shared '
             'storage', name, xu.localname(s), _storage_name(s),
             vios.text('PartitionName'))
    slot = int(xu.text(m, 'ClientAdapter/VirtualSlotNumber') or 0)
    for cand in _candidates(plan.dst, vios, args.get(slot)):
        if _running_vios(cand) and (s is None or _sees(plan.dst, cand, s)):
            plan.scsi.append((vios, m, cand))
            return
    fail('52', 'No Virtual I/O Server of managed system %s %s %s %s of '
         'partition %s (client slot %d)', host(plan.dst).text('SystemName'),
         'named in VirtualSCSIMappings sees' if slot in args else 'sees',
         xu.localname(s) if s is not None else 'the adapter',
         _storage_name(s) if s is not None else '', name, slot)


def _check_vfc(plan, vios, m, args, taken):
    name = plan.lpar.text('PartitionName')
    slot = int(xu.text(m, 'ClientAdapter/VirtualSlotNumber') or 0)
    wwpns = (xu.text(m, 'ClientAdapter/WWPNs') or '').split()
    src_port = xu.text(m, 'Port/PortName')
    if len(wwpns) != 2 or not src_port:
        fail('60', 'The virtual FC adapter in slot %d of partition %s is '
             'not mapped to a physical port with a WWPN pair', slot, name)
    second = fc.norm_wwpn(wwpns[1])
    if second in plan.dst.extra.get(NPIV_REFUSED, ()):
        fail('61', 'WWPN %s (the second of the pair of client slot %d of '
             'partition %s) cannot log in to the fabric of managed system '
             '%s', wwpns[1], slot, name, host(plan.dst).text('SystemName'))
    arg = args.get(slot)
    want_port = arg[3] if arg is not None and arg[3] else None
    for cand in _candidates(plan.dst, vios, arg):
        if not _running_vios(cand):
            continue
        # The named port, or the source's port name first.
        for p in sorted(fc.ports(cand.element),
                        key=lambda q: xu.text(q, 'PortName') != src_port):
            pname = xu.text(p, 'PortName')
            if want_port and pname != want_port:
                continue
            free = int(xu.text(p, 'AvailablePorts') or 0) - taken.get(
                (cand.uuid, pname), 0)
            if int(xu.text(p, 'TotalPorts') or 0) > 0 and free > 0:
                taken[(cand.uuid, pname)] = taken.get((cand.uuid, pname),
                                                      0) + 1
                plan.vfc.append((vios, m, cand, pname))
                return
    fail('62', 'No Virtual I/O Server of managed system %s has an NPIV '
         'capable physical port%s with a free virtual port for client slot '
         '%d of partition %s', host(plan.dst).text('SystemName'),
         ' %s' % want_port if want_port else '', slot, name)


def _check_network(plan, params):
    name = plan.lpar.text('PartitionName')
    switches = {o.text('SwitchName'): o
                for o in plan.dst.store.of_type('VirtualSwitch')}
    cnas = plan.src.store.children(plan.lpar.key, 'ClientNetworkAdapter')
    macs = {(c.text('MACAddress') or '').upper() for c in cnas}
    for item in (params.get('VlanMappings') or '').split(','):
        item = item.strip()
        if not item:
            continue
        parts = item.split('/')
        if len(parts) not in (2, 3) or not _MAC_RE.match(parts[0]) or \
                not parts[1].isdigit():
            fail('70', 'Malformed VLAN mapping %r (MAC/PVID[/VLAN ...])',
                 item)
        if parts[0].upper() not in macs:
            fail('71', 'Partition %s has no network adapter with MAC %s',
                 name, parts[0])
        plan.pvids[parts[0].upper()] = (parts[1], parts[2].split()
                                        if len(parts) == 3 else None)
    for c in cnas:
        link = xu.find(c.element, 'AssociatedVirtualSwitch/link')
        src_sw = plan.src.store.find(
            link.get('href', '').rstrip('/').rsplit('/', 1)[-1]) \
            if link is not None else None
        sw_name = src_sw.text('SwitchName') if src_sw is not None else None
        if sw_name not in switches:
            fail('72', 'Managed system %s has no virtual switch %s for the '
                 'network adapter in slot %s of partition %s',
                 host(plan.dst).text('SystemName'), sw_name,
                 c.text('VirtualSlotNumber'), name)
        plan.cnas.append((c, switches[sw_name]))


def plan(sim, lpar, params):
    """Validate migrating ``lpar`` as ``params`` ask; a Plan or JobFailure.
    """
    dst = find_target(sim, params.get('TargetManagedSystemName'))
    _check_console(sim, dst, params)
    active = _check_partition(sim, dst, lpar, params)
    _check_msp(sim, params.get('SourceMSPIPaddr'), 'source')
    _check_msp(dst, params.get('DestMSPIPaddr'), 'destination')
    p = Plan(sim, dst, lpar, active)
    scsi_args = _mapping_args(params.get('VirtualSCSIMappings'), False)
    vfc_args = _mapping_args(params.get('VirtualFCMappings'), True)
    taken = {}
    uid = lpar.uuid.upper()
    for vios in sorted(sim.store.of_type('VirtualIOServer'),
                       key=lambda v: v.text('PartitionName')):
        mine = [m for m in scsi.all_maps(vios.element)
                if scsi.client_key_of(m)[0] == uid]
        if mine and not _running_vios(vios):
            fail('53', 'Virtual I/O Server %s serving partition %s is not '
                 'running with an active RMC connection',
                 vios.text('PartitionName'), lpar.text('PartitionName'))
        for m in xu.findall(vios.element, scsi.SCSI_PATH):
            if scsi.client_key_of(m)[0] == uid:
                _check_scsi(p, vios, m, scsi_args)
        for m in xu.findall(vios.element, scsi.VFC_PATH):
            if scsi.client_key_of(m)[0] == uid:
                _check_vfc(p, vios, m, vfc_args, taken)
    _check_network(p, params)
    return p
