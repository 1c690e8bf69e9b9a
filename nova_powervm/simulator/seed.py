"""Initial state: built from pypowervm's recorded responses, or a file.

Default host (NovaLink style, one ManagedSystem):

* ManagedSystem ``Server-8247-21L-SN9999999`` (16 free processing units,
  128 GiB free memory)
* LogicalPartition ``novalink`` (ID 1, IsManagementPartition, running)
* VirtualIOServer ``vios1`` (ID 2) and ``vios2`` (ID 3), running, RMC active
* VirtualSwitch ``ETHERNET0`` (ID 0) and ``NovaLinkVEABridge`` (ID 1)
* NetworkBridge (one SEA on vios1, PVID 2227)

State files (``--state``) are XML written by Simulator.dump_state()::

    <SimulatorState>
      <Object type="T" uuid="U" parent_type="PT" parent_uuid="PU"
              service="uom">  ...one content element...  </Object>
    </SimulatorState>
"""
import os
import re

from lxml import etree
import pypowervm
from pypowervm.tests.test_utils import pvmhttp

from nova_powervm.simulator import san
from nova_powervm.simulator import xmlutil as xu

DATA_DIR = os.path.join(os.path.dirname(pypowervm.__file__), 'tests', 'data')
HOST_UUID = 'c889bf0d-9996-33ac-84c5-d16727083a77'
MGMT_UUID = '089FFB20-5D19-4A8C-BB80-13650627D985'
VIOS1_UUID = '7DBBE705-E4C4-4458-8223-3EBE07015CA9'
VIOS2_UUID = '1300C76F-9814-4A4D-B1F0-5B69352A7DEA'
ETH0_UUID = '2affcc5d-b3d7-3e63-abbd-e739070ba1c2'
VEABR_UUID = '31cd66a8-ddd5-3bf2-95fe-2301d10e0fad'
NB_UUID = 'b6a027a8-5c0b-3ac0-8547-b516f5ba6151'

FREE_PROC_UNITS = 16.0
FREE_MEMORY_MB = 131072
_MS_RE = re.compile(r'/ManagedSystem/[0-9A-Fa-f-]{36}')
_DEFAULT_CACHE = []


def recorded(fname):
    """{uuid: content element} of a recorded response file."""
    f = pvmhttp.PVMFile(os.path.join(DATA_DIR, fname))
    root = etree.fromstring(f.body.strip().encode(), xu.parser())
    atom = '{%s}' % xu.ATOM_NS
    entries = (root.findall(atom + 'entry')
               if root.tag == atom + 'feed' else [root])
    out = {}
    for e in entries:
        out[e.findtext(atom + 'id')] = e.find(atom + 'content')[0]
    return out


def _rehost(el, vios_map=None):
    """Point ManagedSystem (and VIOS) hrefs at the seeded objects."""
    for d in el.iter():
        href = d.get('href') if isinstance(d.tag, str) else None
        if not href:
            continue
        href = _MS_RE.sub('/ManagedSystem/' + HOST_UUID, href)
        for old, new in (vios_map or {}).items():
            href = href.replace(old, new)
        d.set('href', href)
    return el


def _clear(el, path):
    found = xu.find(el, path)
    if found is not None:
        for c in list(found):
            if xu.localname(c) != 'Metadata':
                found.remove(c)


def _partition(el, name, pid, mgmt):
    el = _rehost(el)
    for path, val in (('PartitionName', name), ('PartitionID', pid),
                      ('PartitionState', 'running'),
                      ('ResourceMonitoringControlState', 'active'),
                      ('IsManagementPartition', 'true' if mgmt else 'false'),
                      ('ReferenceCode', ''), ('IsOperationInProgress',
                                              'false')):
        xu.set_text(el, path, val)
    for path in ('ClientNetworkAdapters', 'VirtualSCSIClientAdapters',
                 'VirtualFibreChannelClientAdapters', 'PartitionProfiles',
                 'HostEthernetAdapterLogicalPorts',
                 'HostEthernetAdapterLogicalPort',
                 'VirtualSCSIMappings', 'VirtualFibreChannelMappings'):
        _clear(el, path)
    return el


def _build_default_objects():
    """[(type, uuid, parent_key, element)] of the default host."""
    ms = recorded('fake_managedsystem.txt')[HOST_UUID]
    _clear(ms, 'AssociatedLogicalPartitions')
    _clear(ms, 'AssociatedVirtualIOServers')
    mgmt = _partition(recorded('lpar.txt')[MGMT_UUID], 'novalink', 1, True)
    xu.set_text(mgmt, 'PartitionUUID', MGMT_UUID)
    vioses = recorded('fake_vios_feed.txt')
    v1 = _partition(vioses[VIOS1_UUID], 'vios1', 2, False)
    v2 = _partition(vioses[VIOS2_UUID], 'vios2', 3, False)
    vsw = recorded('vswitch_feed.txt')
    eth0 = _rehost(vsw[ETH0_UUID])
    veabr = _rehost(vsw[VEABR_UUID])
    xu.set_text(veabr, 'SwitchName', 'NovaLinkVEABridge')
    nb = recorded('nbbr_network_bridge.txt')[NB_UUID]
    _rehost(nb)
    for sea in xu.descendants(nb, 'AssignedVirtualIOServer'):
        sea.set('href', re.sub(r'/VirtualIOServer/[0-9A-Fa-f-]{36}',
                               '/VirtualIOServer/' + VIOS1_UUID,
                               sea.get('href')))
    for vn in xu.descendants(nb, 'VirtualNetworks'):
        _clear(vn.getparent(), 'VirtualNetworks')
    host = ('ManagedSystem', HOST_UUID)
    return [('ManagedSystem', HOST_UUID, None, ms),
            ('LogicalPartition', MGMT_UUID, host, mgmt),
            ('VirtualIOServer', VIOS1_UUID, host, v1),
            ('VirtualIOServer', VIOS2_UUID, host, v2),
            ('VirtualSwitch', ETH0_UUID, host, eth0),
            ('VirtualSwitch', VEABR_UUID, host, veabr),
            ('NetworkBridge', NB_UUID, host, nb)]


def build_default(sim):
    """Add the default host's objects to sim's (empty) store."""
    if not _DEFAULT_CACHE:
        _DEFAULT_CACHE.extend(
            (t, u, p, etree.tostring(el))
            for t, u, p, el in _build_default_objects())
    index = getattr(sim, 'host_index', 0)
    for t, u, p, data in _DEFAULT_CACHE:
        # Another host of a san: its own UUIDs and serial number.
        if index:
            u = san.host_uuid(index, u)
            p = p and (p[0], san.host_uuid(index, p[1]))
            data = san.rehost(index, data)
        sim.store.add(t, u, etree.fromstring(data, xu.parser()), p,
                      emit=False)
    ms = sim.store.get('ManagedSystem', san.host_uuid(index, HOST_UUID))
    sim.extra['capacity_target'] = (FREE_PROC_UNITS, FREE_MEMORY_MB)
    return ms


def finish(sim):
    """Run after any seed: settle derived values (capacity)."""
    from nova_powervm.simulator import partition
    partition.init_capacity(sim)


def dump_state(sim, path):
    root = etree.Element('SimulatorState')
    for o in sim.store.objs.values():
        holder = etree.SubElement(root, 'Object', type=o.type, uuid=o.uuid,
                                  service=o.service)
        if o.parent:
            holder.set('parent_type', o.parent[0])
            holder.set('parent_uuid', o.parent[1])
        holder.append(etree.fromstring(etree.tostring(o.element)))
    with open(path, 'wb') as f:
        f.write(etree.tostring(root, pretty_print=True,
                               xml_declaration=True, encoding='UTF-8'))


def load_state(sim, path):
    with open(path, 'rb') as f:
        root = xu.parse(f.read())
    for holder in root:
        if not isinstance(holder.tag, str) or holder.tag != 'Object':
            continue
        parent = None
        if holder.get('parent_type'):
            parent = (holder.get('parent_type'), holder.get('parent_uuid'))
        content = [c for c in holder if isinstance(c.tag, str)][0]
        sim.store.add(holder.get('type'), holder.get('uuid'), content,
                      parent, service=holder.get('service') or 'uom',
                      emit=False)
