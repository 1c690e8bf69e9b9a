"""VLANs of pvm_sea ports on the host's Shared Ethernet Adapters.

A pvm_sea port's VLAN reaches the physical network only when the network
bridge (SEA) of its virtual switch carries it.  Plugging a port makes it
so (pypowervm's network bridger); when no client adapter on the host uses
the VLAN any more (the host's VirtualNetwork feed, which lists the
vswitch/VLAN pairs adapters use, no longer has it) it is removed again:
by nova-compute, or for a port bound with binding detail ``sea_agent`` by
the host's PowerVM SEA agent (``nova_powervm.network.sea_agent``).

A port on a flat network (binding detail ``network_type`` ``flat``, no
VLAN) gets the bridge's PVID: its frames leave the SEA untagged.

A VLAN the bridge carries on its primary trunk adapter is never removed.
What was learnt of a bridge is remembered per adapter for ``_TTL`` seconds
(as vif.py remembers vswitches), so a plug or unplug of an already bridged
VLAN costs no request while fresh, and adding a VLAN to a known bridge
costs only pypowervm's requests (its bridger reads the bridges itself and
takes none from its caller).
"""
import functools
import threading
import time
import weakref

from nova.network import model as network_model
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import network_bridger as pvm_nb
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import network as pvm_net

from nova_powervm.i18n import _
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import retry

LOG = logging.getLogger(__name__)

_TTL = 300
_LOCK = threading.Lock()
# adapter -> {(vswitch id, vlan): (expires at, nb uuid or None, permanent)}
_KNOWN = weakref.WeakKeyDictionary()
# adapter -> {vswitch id: (expires at, nb uuid or None, pvid or None)}
_BRIDGES = weakref.WeakKeyDictionary()


def reset_cache(adapter=None):
    """Forget what was learnt of the bridges (all adapters, or one)."""
    with _LOCK:
        for d in (_KNOWN, _BRIDGES):
            if adapter is None:
                d.clear()
            else:
                d.pop(adapter, None)


def _port(vif):
    return vif.get('id') or vif.get('address')


def driver_releases(vif):
    """Whether nova-compute removes this port's VLAN from the SEA.

    Not for a port bound with binding detail ``sea_agent``: the host's
    PowerVM SEA agent owns its VLAN (one owner of removal).
    """
    return (vif.get('type') == 'pvm_sea' and
            not (vif.get('details') or {}).get('sea_agent'))


def port_vlan(instance, vif):
    """The VLAN of a pvm_sea port; None for a port on a flat network.

    From the binding details (``vlan``), else the network's meta.
    :raises VifInvalid: no VLAN on a non-flat port, or not 1-4094.
    """
    details = vif.get('details') or {}
    meta = (vif.get('network') or {}).get('meta') or {}
    raw = details.get(network_model.VIF_DETAILS_VLAN, meta.get('vlan'))
    if raw in (None, ''):
        if details.get('network_type') == 'flat':
            return None
        raise exc.VifInvalid(
            port=_port(vif), instance=instance.name,
            reason=_('a pvm_sea port needs a VLAN (binding detail "vlan") '
                     'or binding detail "network_type": "flat"'))
    try:
        vlan = int(raw)
    except (TypeError, ValueError):
        vlan = None
    if vlan is None or not 1 <= vlan <= 4094:
        raise exc.VifInvalid(port=_port(vif), instance=instance.name,
                             reason=_('VLAN %s is not an integer from 1 to '
                                      '4094') % raw)
    return vlan


def _fresh(table, adapter, key):
    with _LOCK:
        hit = table.get(adapter, {}).get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit
    return None


def _remember(table, adapter, key, *value):
    with _LOCK:
        table.setdefault(adapter, {})[key] = (time.monotonic() + _TTL,
                                              ) + value


def _forget(adapter, key):
    with _LOCK:
        _KNOWN.get(adapter, {}).pop(key, None)


def _learn(adapter, nb):
    """Remember ``nb`` as its vswitch's bridge, and every VLAN it carries."""
    sid = nb.vswitch_id
    _remember(_BRIDGES, adapter, sid, nb.uuid, nb.seas[0].primary_adpt.pvid)
    for vlan in nb.list_vlans():
        _remember(_KNOWN, adapter, (sid, vlan), nb.uuid,
                  _on_primary(nb, vlan))


def _read_bridge(adapter, host_uuid, vsw):
    """(NetBridge wrapper or None, all bridges) of ``vsw``; remembered."""
    nbs = pvm_net.NetBridge.get(adapter, parent_type=pvm_ms.System,
                                parent_uuid=host_uuid)
    for nb in nbs:
        if nb.seas and nb.vswitch_id == vsw.switch_id:
            _learn(adapter, nb)
            return nb, nbs
    _remember(_BRIDGES, adapter, vsw.switch_id, None, None)
    return None, nbs


def warm(adapter, host_uuid):
    """Learn the VLANs of the host's bridges (one GET; at start-up).

    Best effort: a failure only means the first plugs read the feed.
    """
    try:
        nbs = pvm_net.NetBridge.get(adapter, parent_type=pvm_ms.System,
                                    parent_uuid=host_uuid)
    except Exception as e:
        LOG.warning('Could not read the Shared Ethernet Adapters: %s', e)
        return
    for nb in nbs:
        if nb.seas:
            _learn(adapter, nb)


def _on_primary(nb, vlan):
    primary = nb.seas[0].primary_adpt
    return vlan == primary.pvid or vlan in primary.tagged_vlans


def ensure(adapter, host_uuid, vsw, vlan, port='-', instance_name='-'):
    """Make the bridge of ``vsw`` carry ``vlan``; return the VLAN to use.

    :param vlan: None for a flat network: the bridge's PVID is returned.
    :param port: the port and ``instance_name`` (named in errors).
    :raises VifInvalid: a flat port on a vswitch without a bridge.
    :raises pypowervm.exceptions.Error: the REST failure.
    """
    if vlan is None:
        hit = _fresh(_BRIDGES, adapter, vsw.switch_id)
        pvid = hit[2] if hit else None
        if hit is None:
            nb, _nbs = _read_bridge(adapter, host_uuid, vsw)
            pvid = nb.seas[0].primary_adpt.pvid if nb is not None else None
        if pvid is None:
            raise exc.VifInvalid(
                port=port, instance=instance_name,
                reason=_('a flat network needs a Shared Ethernet Adapter '
                         'on virtual switch %s') % vsw.name)
        return pvid
    if _fresh(_KNOWN, adapter, (vsw.switch_id, vlan)):
        return vlan
    bridge = _fresh(_BRIDGES, adapter, vsw.switch_id)
    if bridge is not None and bridge[1] is not None:
        # Known bridge, VLAN not among those it carried: pypowervm reads
        # the bridges itself (and adds the VLAN only if still missing).
        return _add(adapter, host_uuid, vsw, bridge[1], vlan)
    nb, _nbs = _read_bridge(adapter, host_uuid, vsw)
    if nb is None:
        LOG.debug('Virtual switch %s has no Shared Ethernet Adapter; VLAN '
                  '%s stays internal to the host.', vsw.name, vlan)
        _remember(_KNOWN, adapter, (vsw.switch_id, vlan), None, True)
        return vlan
    if nb.supports_vlan(vlan):
        _remember(_KNOWN, adapter, (vsw.switch_id, vlan), nb.uuid,
                  _on_primary(nb, vlan))
        return vlan
    return _add(adapter, host_uuid, vsw, nb.uuid, vlan)


def _add(adapter, host_uuid, vsw, nb_uuid, vlan):
    """Have pypowervm put ``vlan`` on bridge ``nb_uuid`` (one feed read).

    A failure forgets the bridge: the next plug reads the bridges (it may
    have been replaced).
    """
    LOG.info('Adding VLAN %(vlan)s to Shared Ethernet Adapter %(nb)s '
             '(virtual switch %(vsw)s).',
             {'vlan': vlan, 'nb': nb_uuid, 'vsw': vsw.name})
    try:
        pvm_nb.ensure_vlan_on_nb(adapter, host_uuid, nb_uuid, vlan)
    except Exception:
        with _LOCK:
            _BRIDGES.get(adapter, {}).pop(vsw.switch_id, None)
        raise
    _remember(_KNOWN, adapter, (vsw.switch_id, vlan), nb_uuid, False)
    return vlan


def release(adapter, host_uuid, vsw, vlan):
    """Remove ``vlan`` from the bridge of ``vsw`` if no adapter uses it.

    Best effort: a failure is logged (the VLAN stays bridged, harmlessly).
    :return: True if the VLAN was removed.
    """
    return bool(release_all(adapter, host_uuid, [(vsw, vlan)]))


def release_all(adapter, host_uuid, pairs, tries=1):
    """:func:`release` for (vswitch, VLAN) pairs; the VLANs removed.

    A failed removal is tried ``tries`` times in all.  A VLAN known (while
    fresh) to be on the primary trunk adapter, or on a vswitch without a
    bridge, costs nothing; an unknown one one read of the bridges
    (remembered).  One the driver bridged costs the VirtualNetwork
    feed (read once for all pairs), and if no adapter uses it any more the
    bridges' feed and their update.
    """
    vnets = {}   # the VirtualNetwork feed once read
    seen = set()
    removed = []
    for vsw, vlan in pairs:
        if vlan is None or (vsw.switch_id, vlan) in seen:
            continue
        seen.add((vsw.switch_id, vlan))
        if retry.call(functools.partial(_release, adapter, host_uuid, vsw,
                                        vlan, vnets),
                      tries, pvm_exc.Error,
                      functools.partial(_release_failed, vsw, vlan),
                      default=False):
            removed.append(vlan)
    return removed


def _release_failed(vsw, vlan, e, left):
    LOG.warning('Could not remove VLAN %(vlan)s from the Shared Ethernet '
                'Adapter of virtual switch %(vsw)s (%(left)d more tries): '
                '%(err)s', {'vlan': vlan, 'vsw': vsw.name, 'err': e,
                            'left': left})


def _release(adapter, host_uuid, vsw, vlan, vnets):
    key = (vsw.switch_id, vlan)
    nb = nbs = None
    hit = _fresh(_KNOWN, adapter, key)
    if hit is None:
        nb, nbs = _read_bridge(adapter, host_uuid, vsw)
        if nb is None:
            _remember(_KNOWN, adapter, key, None, True)
        hit = _fresh(_KNOWN, adapter, key)
    if hit is None or hit[2]:
        return False   # not bridged, on the primary adapter, or no bridge
    if 'feed' not in vnets:
        vnets['feed'] = pvm_net.VNet.get(adapter, parent_type=pvm_ms.System,
                                         parent_uuid=host_uuid)
    if any(vn.vlan == vlan and vn.vswitch_id == vsw.switch_id
           for vn in vnets['feed']):
        return False
    if nb is None:
        # The update needs the bridges as they are now.
        nb, nbs = _read_bridge(adapter, host_uuid, vsw)
    _forget(adapter, key)
    if nb is None or not nb.supports_vlan(vlan) or _on_primary(nb, vlan):
        return False
    LOG.info('Removing VLAN %(vlan)s, which no adapter uses any more, '
             'from Shared Ethernet Adapter %(nb)s.',
             {'vlan': vlan, 'nb': nb.uuid})
    pvm_nb.remove_vlan_from_nb(adapter, host_uuid, nb.uuid, vlan,
                               existing_nbs=nbs)
    return True
