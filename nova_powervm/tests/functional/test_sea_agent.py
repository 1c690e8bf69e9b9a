"""The PowerVM SEA agent against the simulator, with a fake neutron RPC.

A port is reported up only once its VLAN is on the SEA (what the fake
records at ``update_device_up``); an adapter that goes is reported down and
its VLAN leaves the SEA once no adapter on the host uses it.
"""
import time

from nova.network import model as network_model
from nova import objects
from nova import test
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import network as pvm_net

from nova_powervm.network import sea_agent
from nova_powervm.network import sea_agent_service as service
from nova_powervm.simulator import seed
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import lpm
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


class MigratingNeutron(FakeNeutron):
    """ML2 while a port's binding to this host is inactive (LPM target)."""

    def __init__(self, sim):
        super().__init__(sim)
        self.inactive = set()

    def vlans(self):
        # The second host's bridge has a UUID of its own.
        return set().union(*self.sim.sea_vlans().values())

    def get_devices_details_list(self, devices):
        self.calls.append(('details', sorted(devices)))
        return [{'device': d, 'no_active_binding': True}
                if d in self.inactive else dict(self.ports.get(d, {}),
                                                 device=d)
                for d in devices]


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


class TestLiveMigratedPort(test.NoDBTestCase):
    """The target host's agent and a port that arrives by live migration."""

    def _sync_until(self, agent, done, what):
        deadline = time.monotonic() + 60
        while not done():
            self.assertTrue(agent.wake.wait(
                max(0, deadline - time.monotonic())), 'no event: ' + what)
            agent.sync()

    def test_port_up_without_waiting_for_the_full_read(self):
        base.use_slot_map_dir(self)
        glance = self.useFixture(pvm_fixtures.StreamingGlanceFixture(self))
        meta = objects.ImageMeta.from_dict(glance.add_image(
            base.IMAGE_SIZE, name='lpm-image'))
        fx, drvs = lpm.two_hosts(self)
        inst = lc.make_instance(1, image_ref=meta.id)
        vif = lc.sea_vif(1, 1234)
        vifs = network_model.NetworkInfo([vif])
        lpm.spawn(drvs[0], fx.sims[0], inst, meta, vifs=vifs)
        neutron = MigratingNeutron(fx.sims[1])
        mac = vif['address']
        neutron.ports[mac] = {'port_id': vif['id'], 'network_type': 'vlan',
                              'segmentation_id': 1234,
                              'physical_network': 'default'}
        neutron.inactive.add(mac)
        adapter = drvs[1].adapter
        agent = sea_agent.SeaAgent(adapter, drvs[1].host_uuid, neutron)
        agent.sync()
        handler = service.EventHandler(agent)
        listener = adapter.session.get_event_listener()
        listener.subscribe(handler)
        self.addCleanup(listener.unsubscribe, handler)
        mig = lpm.LiveMigration(drvs, inst, vifs=vifs)
        mig.run(*lpm.STEPS[:4])       # up to the job: the partition moved
        # The adapter's event: the agent asks at once; the binding here is
        # not active yet.
        self._sync_until(agent, lambda: ('details', [mac]) in neutron.calls,
                         'the adapter on the target')
        self.assertEqual(0, agent.devices_up)
        self.assertTrue(agent.retry)
        fx.sims[1].clear_request_log()
        # nova's post_live_migration activates the binding here.
        neutron.inactive.discard(mac)
        mig.run(*lpm.STEPS[4:])
        agent.sync()    # the service's next sync, RETRY_S later
        self.assertEqual(('up', mac), neutron.calls[-1][:2])
        self.assertIn(1234, neutron.calls[-1][2])
        self.assertEqual(1, agent.devices_up)
        # Without a full read (no partition feed GET).
        self.assertNotIn(('GET', '/rest/api/uom/LogicalPartition'),
                         [(r['method'], r['path'])
                          for r in fx.sims[1].request_log()])


def lc_seeded():
    return [1000, 2227]
