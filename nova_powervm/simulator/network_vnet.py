"""Virtual switch IDs and realized virtual networks (VLAN bookkeeping).

PowerVM gives a created VirtualSwitch the next free SwitchID, and realizes a
VirtualNetwork (ManagedSystem child) for every vswitch/VLAN pair an adapter
uses; pypowervm's free-VLAN search (tasks.cna._find_free_vlan) and the
driver's OVS trunk allocation read that feed.  This module adds both as
hooks (it is imported automatically, being named ``network*``):

- on_create('VirtualSwitch'): SwitchID (next free), SwitchMode (Veb).
- on_delete('VirtualSwitch'): refused (409) while an adapter (client or
  trunk) is on it, as PowerVM refuses to remove a switch in use.
- on_create('ClientNetworkAdapter'): the VirtualNetwork of (vswitch, PVID)
  exists afterwards.
- on_delete('ClientNetworkAdapter'): it goes when no other adapter uses it.
- inventory()['virtual_networks']: sorted "<SwitchID>/<VLAN>" strings.

To extend, add further hooks with ``registry.on_create``/``on_delete`` in a
module of this package named ``network*`` (see the package docstring).
"""
import uuid

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import xmlutil as xu

_PAIR = 'vnet_pair'


def _pair(cna):
    return (cna.text('VirtualSwitchID'), cna.text('PortVLANID'))


def _pair_used(sim, pair, skip=None):
    """Whether an adapter (but ``skip``) is on (switch ID, VLAN) ``pair``.

    Each adapter's pair is kept until it changes (Obj.memo): a delete on a
    host with hundreds of adapters reads none of their elements.
    """
    return any(o is not skip and o.memo(_PAIR, _pair) == pair
               for o in sim.store.of_type('ClientNetworkAdapter'))


def _vnets(sim):
    return list(sim.store.of_type('VirtualNetwork'))


@reg.on_create('VirtualSwitch')
def _vswitch_create(sim, obj, ctx):
    if obj.text('SwitchID') is None:
        used = {int(o.text('SwitchID')) for o in
                sim.store.of_type('VirtualSwitch')
                if o.text('SwitchID') and o.text('SwitchID').isdigit()}
        sid = 0
        while sid in used:
            sid += 1
        xu.set_text(obj.element, 'SwitchID', str(sid))
    if obj.text('SwitchMode') is None:
        xu.set_text(obj.element, 'SwitchMode', 'Veb')


@reg.on_delete('VirtualSwitch')
def _vswitch_delete(sim, obj, ctx):
    sid = obj.text('SwitchID')
    users = {o.text('LocationCode') or o.uuid for o in
             sim.store.of_type('ClientNetworkAdapter')
             if o.text('VirtualSwitchID') == sid}
    # Trunk adapters (a SEA's, in its NetworkBridge and its VIOS).
    for kind in ('NetworkBridge', 'VirtualIOServer'):
        for o in sim.store.of_type(kind):
            for trunk in o.element.iter('{%s}TrunkAdapter' % xu.UOM_NS):
                if xu.text(trunk, 'VirtualSwitchID') == sid:
                    users.add(xu.text(trunk, 'LocationCode') or
                              xu.text(trunk, 'DeviceName') or o.uuid)
    users = sorted(users)
    if ctx is not None and users:
        raise errors.SimError(409, 'Virtual switch %s is in use by %d '
                              'virtual Ethernet adapter(s) (%s) and cannot '
                              'be removed' % (obj.text('SwitchName'),
                                              len(users), users[0]))


def _vswitch_by_id(sim, sid):
    for o in sim.store.of_type('VirtualSwitch'):
        if o.text('SwitchID') == sid:
            return o
    return None


@reg.on_create('ClientNetworkAdapter')
def _realize_vnet(sim, obj, ctx):
    sid, vlan = obj.text('VirtualSwitchID'), obj.text('PortVLANID')
    for vn in _vnets(sim):
        if (vn.text('VswitchID'), vn.text('NetworkVLANID')) == (sid, vlan):
            return
    vsw = _vswitch_by_id(sim, sid)
    host = sim.store.of_type('ManagedSystem')
    if vsw is None or not host:
        return
    el = etree.Element(etree.QName(xu.UOM_NS, 'VirtualNetwork'),
                       attrib={'schemaVersion': 'V1_0'},
                       nsmap={None: xu.UOM_NS})
    uid = str(uuid.uuid4())
    xu.metadata(el, uid)
    xu.link(el, 'AssociatedSwitch', sim.store.href(vsw))
    xu.make(el, 'NetworkName', '%s-%s' % (vsw.text('SwitchName'), vlan))
    xu.make(el, 'NetworkVLANID', vlan)
    xu.make(el, 'VswitchID', sid)
    xu.make(el, 'TaggedNetwork', 'false' if vlan == '1' else 'true')
    sim.store.add('VirtualNetwork', uid, el, parent=host[0].key)


@reg.on_delete('ClientNetworkAdapter')
def _release_vnet(sim, obj, ctx):
    pair = _pair(obj)
    if _pair_used(sim, pair, skip=obj):
        return
    for vn in _vnets(sim):
        if (vn.text('VswitchID'), vn.text('NetworkVLANID')) == pair:
            sim.store.remove(vn, ctx)


@reg.snapshot('virtual_networks')
def _snap_vnets(sim):
    return sorted('%s/%s' % (vn.text('VswitchID'), vn.text('NetworkVLANID'))
                  for vn in _vnets(sim))
