"""PowerVM SEA agent: pvm_sea ports go up only once the SEA carries them.

The L2 agent of a PowerVM host (``nova-powervm-sea-agent``, the loop is
:mod:`sea_agent_service`).  It keeps the host's partitions' client network
adapters (CNAs) in view - the REST API's event feed names the partitions
that changed, a periodic full read catches what events missed - and
treats each adapter's MAC address as a neutron device:

- a new adapter: ML2's ``get_devices_details_list`` names its port; the
  port's VLAN must be the adapter's PVID (a flat port: the bridge's PVID);
  pypowervm's network bridger puts it on the Shared Ethernet Adapter of the
  adapter's virtual switch (``sea_vlan.ensure``, idempotent) and only then
  the agent calls ``update_device_up`` (which lifts the port's L2
  provisioning block: ACTIVE, nova's ``network-vif-plugged``);
- a gone adapter: ``update_device_down``, then its VLAN leaves the SEA if
  no adapter on the host uses it any more (``sea_vlan.release_all``).  The
  agent is the one owner of that removal for the ports it reported up:
  their binding carries ``sea_agent`` and nova-compute leaves them alone.

Adapters neutron has no port of here (the management partition's, ports
of another host) are asked about again at the next full read only.  An
adapter that arrived with its partition by live migration is asked about
at once (the event of its adapter); its port's binding here is still
inactive until nova moves it (ML2 answers ``no_active_binding``): such a
device is asked about again at every sync, soon (``retry``), not at the
next full read.
"""
import threading

from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import network as pvm_net

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import sea_vlan

LOG = logging.getLogger(__name__)

_FLAT = 'flat'
_VLAN = 'vlan'
# ML2's answer for a port whose binding to this host is not active yet (the
# target of a live migration); neutron_lib.constants.NO_ACTIVE_BINDING.
_NO_ACTIVE_BINDING = 'no_active_binding'


def neutron_mac(pvm_mac):
    """``FA163E000001`` (the REST API's form) -> ``fa:16:3e:00:00:01``."""
    mac = pvm_mac.replace(':', '').lower()
    return ':'.join(mac[i:i + 2] for i in range(0, len(mac), 2))


def _by_mac(cnas):
    """{neutron MAC: (vswitch id, PVID)} of CNA wrappers."""
    return {neutron_mac(c.mac): (c.vswitch_id, c.pvid) for c in cnas}


class SeaAgent(object):
    """What the agent knows of the host's adapters, and one sync step."""

    def __init__(self, adapter, host_uuid, rpc):
        self.adapter = adapter
        self.host_uuid = host_uuid
        self.rpc = rpc
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._parts = {}      # partition uuid -> {mac: (vswitch id, pvid)}
        self._up = {}         # mac -> (vswitch id, pvid, flat) reported up
        self._unknown = set()  # macs to ask neutron about at a full read
        self._dirty = set()
        self._full = True
        self.retry = False    # something failed: sync again soon

    # -- called from the event feed's thread ---------------------------
    def changed(self, part_uuid):
        """A partition's adapters may have changed."""
        with self._lock:
            self._dirty.add(part_uuid.upper())
        self.wake.set()

    def resync(self):
        """Read every partition's adapters at the next sync."""
        with self._lock:
            self._full = True
        self.wake.set()

    # -- the agent loop ---------------------------------------------------
    @property
    def devices_up(self):
        return len(self._up)

    def sync(self):
        """Read what changed, then report adapters up and down."""
        with self._lock:
            full, dirty = self._full, self._dirty
            self._full, self._dirty = False, set()
        self.wake.clear()
        self.retry = False
        try:
            if full:
                self._parts = {lp.uuid.upper(): _by_mac(self._cnas(lp.uuid))
                               for lp in pvm_lpar.LPAR.get(self.adapter)}
                self._unknown.clear()
            for uuid in () if full else dirty:
                cnas = _by_mac(self._cnas(uuid))
                if cnas:
                    self._parts[uuid] = cnas
                else:
                    self._parts.pop(uuid, None)
        except pvm_exc.Error as e:
            LOG.warning('Could not read the partitions\' network adapters '
                        '(full read next): %s', e)
            self.resync()
            self.retry = True
            return
        current = {mac: info for cnas in self._parts.values()
                   for mac, info in cnas.items()}
        self._unknown &= set(current)
        gone = [mac for mac, up in self._up.items()
                if current.get(mac) != up[:2]]
        if gone:
            self._down(gone)
        new = [mac for mac in current
               if mac not in self._up and mac not in self._unknown]
        if new:
            self._bring_up(new, current)

    def _cnas(self, part_uuid):
        """The CNAs of a partition; none if it is gone."""
        try:
            return pvm_net.CNA.get(self.adapter, parent_type=pvm_lpar.LPAR,
                                   parent_uuid=part_uuid)
        except pvm_exc.HttpError as e:
            if e.response is not None and e.response.status == 404:
                return []
            raise

    def _vswitches(self):
        sea_vlan.reset_cache(self.adapter)   # the bridges as they are now
        return {v.switch_id: v for v in pvm_net.VSwitch.get(
            self.adapter, parent_type=pvm_ms.System,
            parent_uuid=self.host_uuid)}

    def _bring_up(self, macs, current):
        try:
            details = self.rpc.get_devices_details_list(macs)
            vswitches = self._vswitches()
        except Exception as e:
            LOG.warning('Could not look up devices %(macs)s: %(err)s',
                        {'macs': ', '.join(macs), 'err': e})
            self.retry = True
            return
        for det in details:
            mac = det.get('device')
            if mac not in current:
                continue
            if 'port_id' not in det:
                if det.get(_NO_ACTIVE_BINDING):
                    LOG.debug('Device %s: its port is bound here once its '
                              'live migration completes; asking again.', mac)
                    self.retry = True
                else:
                    self._unknown.add(mac)
                continue
            vsw_id, pvid = current[mac]
            if self._wire(det, vswitches.get(vsw_id), pvid):
                try:
                    self.rpc.update_device_up(mac)
                except Exception as e:
                    LOG.warning('update_device_up of %(mac)s failed: '
                                '%(err)s', {'mac': mac, 'err': e})
                    self.retry = True
                    continue
                self._up[mac] = (vsw_id, pvid,
                                 det.get('network_type') == _FLAT)
                LOG.info('Port %(port)s (%(mac)s, VLAN %(vlan)s) is up.',
                         {'port': det['port_id'], 'mac': mac, 'vlan': pvid})

    def _wire(self, det, vsw, pvid):
        """Put the port's VLAN on the SEA; whether the port may go up."""
        port, net_type = det['port_id'], det.get('network_type')
        if vsw is None or net_type not in (_VLAN, _FLAT):
            LOG.warning('Port %(port)s: not a pvm_sea port on a known '
                        'virtual switch (network type %(type)s).',
                        {'port': port, 'type': net_type})
            self._unknown.add(det['device'])
            return False
        want = None if net_type == _FLAT else det.get('segmentation_id')
        vlan = want
        try:
            if want is None or want == pvid:   # a mismatch adds nothing
                vlan = sea_vlan.ensure(self.adapter, self.host_uuid, vsw,
                                       want, port)
        except (pvm_exc.Error, exc.VifInvalid) as e:
            LOG.warning('Could not put the VLAN of port %(port)s on the '
                        'Shared Ethernet Adapter: %(err)s',
                        {'port': port, 'err': e})
            self.retry = True
            return False
        if vlan != pvid:
            LOG.warning('Port %(port)s: its adapter has PVID %(pvid)s, the '
                        'network VLAN %(vlan)s; not reporting it up.',
                        {'port': port, 'pvid': pvid, 'vlan': vlan})
            self._unknown.add(det['device'])
            return False
        return True

    def _down(self, macs):
        pairs = []
        for mac in macs:
            vsw_id, pvid, flat = self._up[mac]
            try:
                self.rpc.update_device_down(mac)
            except Exception as e:
                LOG.warning('update_device_down of %(mac)s failed: %(err)s',
                            {'mac': mac, 'err': e})
                self.retry = True
                continue
            del self._up[mac]
            if not flat:
                pairs.append((vsw_id, pvid))
        if not pairs:
            return
        try:
            vswitches = self._vswitches()
        except pvm_exc.Error as e:
            LOG.warning('Not removing VLANs %(vlans)s from the SEA: %(err)s',
                        {'vlans': pairs, 'err': e})
            return
        sea_vlan.release_all(self.adapter, self.host_uuid,
                             [(vswitches[s], v) for s, v in pairs
                              if s in vswitches])
