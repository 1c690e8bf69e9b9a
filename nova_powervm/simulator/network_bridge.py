"""Shared Ethernet Adapter VLANs: updates of a NetworkBridge.

A NetworkBridge (SEA) carries to the physical network its primary trunk
adapter's PVID (untagged) and the tagged VLANs of its trunk adapters.
pypowervm's network bridger adds a VLAN by appending it to a trunk
adapter's ``TaggedVLANIDs`` (or a new trunk adapter with a placeholder
PVID) and POSTing the bridge; it removes one the same way.  This module
checks such an update as the REST API does and fills in what the server
owns (it is imported automatically, being named ``network*``):

- on_update('NetworkBridge'): refused (HTTP 400, nothing changes) when the
  primary adapter's PVID changes, a VLAN is not 1-4094, a VLAN is bridged
  twice, or a trunk adapter has more than 20 tagged VLANs; a new trunk
  adapter gets its slot, location code, MAC and device name, and the load
  groups follow the trunk adapters.
- control ``sea_vlans()``: {bridge uuid: sorted VLANs it carries (PVID and
  tagged; placeholder PVIDs of additional trunk adapters excluded)}.  It
  is not part of inventory(): flows that fail after adding a VLAN leave it
  bridged (harmless; it is removed when the last port using it goes).
"""
import copy

from nova_powervm.simulator import errors
from nova_powervm.simulator import network
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import xmlutil as xu

MAX_TAGGED_PER_TRUNK = 20
_FIRST_TRUNK_SLOT = 10


def _seas(el):
    return xu.findall(el, 'SharedEthernetAdapters/SharedEthernetAdapter')


def _trunks(sea):
    return xu.findall(sea, 'TrunkAdapters/TrunkAdapter')


def _tagged(trunk):
    raw = xu.text(trunk, 'TaggedVLANIDs') or ''
    return [v for v in raw.split() if v]


def _vlan(raw, what):
    if raw is None or not raw.isdigit() or not 1 <= int(raw) <= 4094:
        raise errors.BadRequest('%s %r is not a VLAN id (1-4094)'
                                % (what, raw))
    return int(raw)


def _check(el, old):
    old_seas = _seas(old)
    for i, sea in enumerate(_seas(el)):
        trunks = _trunks(sea)
        if not trunks:
            raise errors.BadRequest('A SharedEthernetAdapter needs its '
                                    'primary trunk adapter')
        if i < len(old_seas) and _trunks(old_seas[i]):
            was = xu.text(_trunks(old_seas[i])[0], 'PortVLANID')
            if xu.text(trunks[0], 'PortVLANID') != was:
                raise errors.BadRequest(
                    'The PVID %s of the primary trunk adapter of a Shared '
                    'Ethernet Adapter cannot be changed' % was)
        seen = set()
        for trunk in trunks:
            tagged = _tagged(trunk)
            if len(tagged) > MAX_TAGGED_PER_TRUNK:
                raise errors.BadRequest(
                    'A trunk adapter carries at most %d tagged VLANs (%d '
                    'given)' % (MAX_TAGGED_PER_TRUNK, len(tagged)))
            vlans = [_vlan(xu.text(trunk, 'PortVLANID'), 'PortVLANID')]
            vlans += [_vlan(v, 'TaggedVLANID') for v in tagged]
            for v in vlans:
                if v in seen:
                    raise errors.BadRequest(
                        'VLAN %d is on two trunk adapters of one Shared '
                        'Ethernet Adapter' % v)
                seen.add(v)


def _fill_trunk(sim, trunk, sea, slots):
    """Server-side fields of a trunk adapter the client just added."""
    if xu.text(trunk, 'VirtualSlotNumber'):
        return
    slot = _FIRST_TRUNK_SLOT
    while slot in slots:
        slot += 1
    slots.add(slot)
    first = _trunks(sea)[0]
    loc = xu.text(first, 'LocationCode') or 'U8247.22L.2125D4A-V1-C2'
    xu.set_text(trunk, 'LocationCode', '%s-C%d' % (loc.rsplit('-C', 1)[0],
                                                   slot))
    xu.set_text(trunk, 'VirtualSlotNumber', str(slot))
    xu.set_text(trunk, 'MACAddress', network.new_mac(sim))
    xu.set_text(trunk, 'DeviceName', 'ent%d' % (100 + slot))
    xu.set_text(trunk, 'VirtualSwitchID',
                xu.text(first, 'VirtualSwitchID') or '0')
    if xu.text(trunk, 'TaggedVLANSupported') is None:
        xu.set_text(trunk, 'TaggedVLANSupported', 'true')


def _sync_load_groups(el):
    """One load group per trunk adapter of the first SEA, same PVIDs."""
    lgs = xu.find(el, 'LoadGroups')
    seas = _seas(el)
    if lgs is None or not seas:
        return
    groups = xu.findall(lgs, 'LoadGroup')
    if not groups:
        return
    by_pvid = {xu.text(g, 'PortVLANID'): g for g in groups}
    template = groups[0]
    for g in groups:
        lgs.remove(g)
    for trunk in _trunks(seas[0]):
        pvid = xu.text(trunk, 'PortVLANID')
        g = by_pvid.get(pvid)
        if g is None:
            g = copy.deepcopy(template)
            xu.set_text(g, 'PortVLANID', pvid)
        lgs.append(g)


@reg.on_update('NetworkBridge')
def _nb_update(sim, obj, old, ctx):
    _check(obj.element, old)   # a refusal leaves the bridge as it was
    for sea in _seas(obj.element):
        slots = {int(s) for t in _trunks(sea)
                 for s in [xu.text(t, 'VirtualSlotNumber')] if s}
        for trunk in _trunks(sea)[1:]:
            _fill_trunk(sim, trunk, sea, slots)
    _sync_load_groups(obj.element)


def bridged_vlans(el):
    """Sorted VLANs a NetworkBridge element carries (first SEA)."""
    seas = _seas(el)
    if not seas:
        return []
    trunks = _trunks(seas[0])
    vlans = set()
    for n, trunk in enumerate(trunks):
        if n == 0:
            vlans.add(int(xu.text(trunk, 'PortVLANID')))
        vlans.update(int(v) for v in _tagged(trunk))
    return sorted(vlans)


@reg.control('sea_vlans')
def sea_vlans(sim):
    """{NetworkBridge uuid: sorted VLANs it carries}."""
    with sim.lock:
        return {o.uuid: bridged_vlans(o.element)
                for o in sim.store.of_type('NetworkBridge')}
