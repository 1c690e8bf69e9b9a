"""Network types: client/trunk adapters, virtual switches, bridges."""
import random
import re

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import xmlutil as xu

_UUID_AT_END = re.compile(r'/([0-9A-Fa-f-]{36})/?$')
FIRST_CLIENT_SLOT = 3
# Slots 0 and 1 hold the virtual serial adapters.
FIRST_SERIAL_FREE = 2

reg.register_type('ClientNetworkAdapter',
                  parents=('LogicalPartition', 'VirtualIOServer'))
reg.register_type('VirtualSwitch', parents=('ManagedSystem',))
reg.register_type('NetworkBridge', parents=('ManagedSystem',))
reg.register_type('VirtualNetwork', parents=('ManagedSystem',))


def _all_macs(sim):
    macs = set()
    for o in sim.store.objs.values():
        if o.type in ('ClientNetworkAdapter', 'VirtualIOServer',
                      'VirtualNICDedicated',
                      'NetworkBridge'):
            macs.update(d.text for d in xu.descendants(o.element,
                                                       'MACAddress'))
    return macs


def new_mac(sim):
    used = _all_macs(sim)
    while True:
        mac = 'FA%010X' % random.getrandbits(40)
        if mac not in used:
            return mac


def used_slots(sim, part_key, but=None):
    """Virtual slot numbers taken on a partition (child adapters but one)."""
    slots = set()
    for o in sim.store.children(part_key):
        if o is but:
            continue
        s = o.text('VirtualSlotNumber')
        if s and s.isdigit():
            slots.add(int(s))
    return slots | set(sim.extra.get(('slots', part_key), ()))


def check_requested_slot(part, slot, used, holder=None):
    """A client slot asked for by number: a free one of the partition.

    Slots 0 and 1 are the partition's virtual serial adapters; a slot must
    be below its MaximumVirtualIOSlots (400); a slot in use is 409.
    :param holder: f(slot) naming what holds a slot in use (for the 409).
    """
    name = part.text('PartitionName')
    if not str(slot).isdigit():
        raise errors.BadRequest('Virtual slot %r is not a number' % slot)
    slot = int(slot)
    top = part.text('PartitionIOConfiguration/MaximumVirtualIOSlots')
    if slot < FIRST_SERIAL_FREE or (top and top.isdigit() and
                                    slot >= int(top)):
        raise errors.BadRequest(
            'HSCL1A10 Virtual slot %d is outside the virtual slots of %s '
            '(%d to %s)' % (slot, name, FIRST_SERIAL_FREE,
                            int(top) - 1 if top and top.isdigit() else '?'))
    if slot in used:
        what = holder(slot) if holder else None
        raise errors.SimError(409, 'HSCL1400 Slot %s of %s is in use%s'
                              % (slot, name, ' (%s)' % what if what else ''))
    return slot


def next_slot(sim, part_key, high=False):
    used = used_slots(sim, part_key)
    slot = FIRST_CLIENT_SLOT
    while slot in used:
        slot += 1
    return slot


def _vswitch_of(sim, el):
    link = xu.find(el, 'AssociatedVirtualSwitch/link')
    if link is None:
        return None
    m = _UUID_AT_END.search(link.get('href', ''))
    return sim.store.get('VirtualSwitch', m.group(1)) if m else None


@reg.on_create('ClientNetworkAdapter')
def _cna_create(sim, obj, ctx):
    el = obj.element
    part = sim.store.get(*obj.parent) if obj.parent else None
    if part is None:
        raise errors.BadRequest('A ClientNetworkAdapter needs a partition')
    vsw = _vswitch_of(sim, el)
    if xu.find(el, 'AssociatedVirtualSwitch') is not None and vsw is None:
        raise errors.BadRequest('The virtual switch of the adapter does not '
                                'exist')
    pvid = xu.text(el, 'PortVLANID')
    if pvid is None or not pvid.isdigit() or not 0 < int(pvid) < 4095:
        raise errors.BadRequest('PortVLANID %r is not a VLAN id' % pvid)
    slot = xu.text(el, 'VirtualSlotNumber')
    if slot is None or xu.text(el, 'UseNextAvailableSlotID') == 'true' or \
            xu.text(el, 'UseNextAvailableHighSlotID') == 'true':
        slot = next_slot(sim, part.key)
    else:
        slot = check_requested_slot(part, slot,
                                    used_slots(sim, part.key, but=obj))
    for tag in ('UseNextAvailableSlotID', 'UseNextAvailableHighSlotID'):
        found = xu.child(el, tag)
        if found is not None:
            el.remove(found)
    mac = xu.text(el, 'MACAddress')
    if not mac:
        mac = new_mac(sim)
    xu.set_text(el, 'MACAddress', mac.upper().replace(':', ''))
    xu.set_text(el, 'VirtualSlotNumber', slot)
    xu.set_text(el, 'LocationCode', 'U8247.22L.2125D4A-V%s-C%s'
                % (part.text('PartitionID'), slot))
    xu.set_text(el, 'AdapterType', 'Client')
    xu.set_text(el, 'LocalPartitionID', part.text('PartitionID'))
    xu.set_text(el, 'VirtualSwitchID',
                vsw.text('SwitchID', '0') if vsw is not None else '0')
    if vsw is not None:
        xu.set_text(el, 'VirtualSwitchName', vsw.text('SwitchName'))
    if xu.text(el, 'Enabled') is None:
        xu.set_text(el, 'Enabled', 'true')


@reg.on_update('ClientNetworkAdapter')
def _cna_update(sim, obj, old, ctx):
    for path in ('MACAddress', 'VirtualSlotNumber', 'LocationCode'):
        val = xu.text(old, path)
        if val is not None:
            xu.set_text(obj.element, path, val)


def _adapter(sim, o):
    part = sim.store.get(*o.parent) if o.parent else None
    return {'partition': o.parent[1] if o.parent else None,
            'partition_name': part.text('PartitionName') if part else None,
            'mac': o.text('MACAddress'), 'slot': o.text('VirtualSlotNumber'),
            'pvid': o.text('PortVLANID'),
            'vswitch': o.text('VirtualSwitchName'),
            'tagged_vlans': o.text('TaggedVLANIDs')}


@reg.snapshot('client_adapters')
def _snap_cnas(sim):
    return {o.uuid: _adapter(sim, o)
            for o in sim.store.of_type('ClientNetworkAdapter')
            if o.text('TrunkPriority') is None}


@reg.snapshot('trunk_adapters')
def _snap_trunks(sim):
    return {o.uuid: _adapter(sim, o)
            for o in sim.store.of_type('ClientNetworkAdapter')
            if o.text('TrunkPriority') is not None}


@reg.snapshot('vswitches')
def _snap_vswitches(sim):
    return {o.uuid: {'name': o.text('SwitchName'), 'id': o.text('SwitchID')}
            for o in sim.store.of_type('VirtualSwitch')}


@reg.snapshot('network_bridges')
def _snap_bridges(sim):
    return {o.uuid: {'pvid': o.text('PortVLANID'),
                     'load_groups': [xu.text(lg, 'PortVLANID') for lg in
                                     xu.findall(o.element,
                                                'LoadGroups/LoadGroup')]}
            for o in sim.store.of_type('NetworkBridge')}
