"""The PowerVM SEA agent against the simulator, with a fake neutron RPC.

A port is reported up only once its VLAN is on the SEA (what the fake
records at ``update_device_up``); an adapter that goes is reported down and
its VLAN leaves the SEA once no adapter on the host uses it.
"""
import time

from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import network as pvm_net

from nova_powervm.network import sea_agent
from nova_powervm.network import sea_agent_service as service
from nova_powervm.simulator import seed
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import host_net
from nova_powervm.virt.powervm import ids


class FakeNeutron(object):
    """ML2's agent RPC: details of known MACs; records up/down calls."""

    def __init__(self, sim):
        self.sim = sim
        self.ports = {}
        self.calls = []

    def add(self, n, net_type, vlan=None):
        mac = 'fa:16:3e:00:01:%02x' % n
        self.ports[mac] = {'port_id': 'port-%d' % n,
                           'network_type': net_type,
                           'segmentation_id': vlan,
                           'physical_network': 'default'}
        return mac

    def vlans(self):
        return self.sim.sea_vlans()[seed.NB_UUID]

    def get_devices_details_list(self, devices):
        self.calls.append(('details', sorted(devices)))
        return [dict(self.ports.get(d, {}), device=d) for d in devices]

    def update_device_up(self, device):
        self.calls.append(('up', device, sorted(self.vlans())))

    def update_device_down(self, device):
        self.calls.append(('down', device, sorted(self.vlans())))


class TestSeaAgent(lc.SimDriverTestCase):

    def setUp(self):
        super().setUp()
        self.neutron = FakeNeutron(self.sim)
        self.adapter = self.drv.adapter
        self.agent = sea_agent.SeaAgent(self.adapter, self.drv.host_uuid,
                                        self.neutron)
        self.agent.sync()     # the first full read: the host's adapters
        del self.neutron.calls[:]
        self.vsw = host_net.get_vswitch(self.adapter, 'ETHERNET0')

    def partition(self, n):
        inst = lc.make_instance(n)
        inst.task_state = None
        self.create_partition(inst)
        return ids.pvm_uuid(inst)

    def add_cna(self, part, mac, pvid):
        """A client adapter as nova-compute makes it, minus the SEA."""
        cna = pvm_net.CNA.bld(self.adapter, pvid, self.vsw.related_href,
                              mac_addr=mac)
        return cna.create(parent_type=pvm_lpar.LPAR, parent_uuid=part)

    def sync_until(self, done):
        """Sync on each event until ``done()``.

        One change may come as several events (the adapter, then its
        partition): the event that woke the agent need not be the awaited one.
        """
        deadline = time.monotonic() + 60
        while True:
            self.assertTrue(self.agent.wake.wait(
                max(0, deadline - time.monotonic())), 'no event')
            self.agent.sync()
            if done():
                return

    def test_events_up_after_vlan_on_sea_down_and_removal(self):
        handler = service.EventHandler(self.agent)
        listener = self.adapter.session.get_event_listener()
        listener.subscribe(handler)
        self.addCleanup(listener.unsubscribe, handler)
        p1, p2 = self.partition(1), self.partition(2)
        mac1 = self.neutron.add(1, 'vlan', 302)
        mac2 = self.neutron.add(2, 'vlan', 302)
        cna1 = self.add_cna(p1, mac1, 302)
        self.assertNotIn(302, self.neutron.vlans())
        self.sync_until(lambda: any(c[0] == 'up' for c in self.neutron.calls))
        self.assertEqual([('details', [mac1]),
                          ('up', mac1, [302] + lc_seeded())],
                         self.neutron.calls)
        cna2 = self.add_cna(p2, mac2, 302)
        self.sync_until(lambda: self.neutron.calls[-1][:2] == ('up', mac2))
        self.assertEqual(('up', mac2, [302] + lc_seeded()),
                         self.neutron.calls[-1])
        del self.neutron.calls[:]
        cna1.delete()
        self.sync_until(lambda: self.neutron.calls)
        # Partition 2 still uses VLAN 302.
        self.assertEqual([('down', mac1, [302] + lc_seeded())],
                         self.neutron.calls)
        self.assertIn(302, self.neutron.vlans())
        cna2.delete()
        self.sync_until(lambda: self.neutron.calls[-1][:2] == ('down', mac2))
        self.assertEqual(('down', mac2, [302] + lc_seeded()),
                         self.neutron.calls[-1])
        self.assertEqual(lc_seeded(), sorted(self.neutron.vlans()))

    def test_full_read_flat_mismatch_and_foreign_adapters(self):
        part = self.partition(3)
        flat = self.neutron.add(3, 'flat')
        wrong = self.neutron.add(4, 'vlan', 305)
        foreign = 'fa:16:3e:00:01:05'
        self.add_cna(part, flat, 2227)        # the SEA's PVID: untagged
        self.add_cna(part, wrong, 304)        # not the network's VLAN
        self.add_cna(part, foreign, 306)      # no neutron port
        self.agent.resync()
        self.agent.sync()
        self.assertEqual([('details', sorted([flat, wrong, foreign])),
                          ('up', flat, lc_seeded())], self.neutron.calls)
        # Neither VLAN was added for the mismatched or foreign adapter.
        self.assertEqual(lc_seeded(), sorted(self.neutron.vlans()))
        # Not asked about again until the next full read.
        self.agent.changed(part)
        self.agent.sync()
        self.assertEqual(2, len(self.neutron.calls))
        self.assertEqual(1, self.agent.devices_up)


def lc_seeded():
    return [1000, 2227]
