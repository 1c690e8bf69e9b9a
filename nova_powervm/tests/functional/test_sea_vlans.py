"""SEA VLANs follow the pvm_sea ports of the host (simulator state).

A port's VLAN is added to the Shared Ethernet Adapter when the first
adapter on it is plugged, and removed when the last one goes (destroy or
interface detach); VLANs on the SEA's primary trunk adapter stay.
"""
from nova.network import model as network_model

from nova_powervm.simulator import seed
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import vif

SEEDED = [1000, 2227]


class TestSeaVlans(lc.SimDriverTestCase):

    real_disk = True
    spawn = lc.TestSpawnDestroy.spawn

    def vlans(self):
        return self.sim.sea_vlans()[seed.NB_UUID]

    def test_added_on_first_plug_removed_after_last_port(self):
        self.drv.cleanup_host('compute1')   # request logs without polls
        self.assertEqual(SEEDED, sorted(self.vlans()))
        one = lc.make_instance(1, image_ref=self.image_id)
        two = lc.make_instance(2, image_ref=self.image_id)
        # Disk names keep 13 hex digits of the uuid: make them differ.
        two.uuid = 'c0ffee02-0000-4000-8000-000000000000'
        vifs1 = [lc.sea_vif(1, 300)]
        vifs2 = [lc.sea_vif(2, 300)]
        _, reqs = self.spawn(one, vifs1)
        self.assertEqual([300, 1000, 2227], sorted(self.vlans()))
        self.assertIn(('POST', '/rest/api/uom/ManagedSystem/%s/'
                       'NetworkBridge/%s' % (seed.HOST_UUID, seed.NB_UUID)),
                      reqs)
        _, reqs = self.spawn(two, vifs2)
        # Known bridged: the second port of the VLAN costs no SEA request.
        self.assertFalse([r for r in reqs if 'NetworkBridge' in r[1]], reqs)
        self.assertEqual([('300', 'ETHERNET0')], [
            (c['pvid'], c['vswitch']) for c in self.sim.inventory()[
                'client_adapters'].values() if c['mac'] == 'FA163E000002'])

        self.drv.destroy(None, one, network_model.NetworkInfo(vifs1))
        self.assertIn(300, self.vlans())        # instance two still uses it
        _, reqs = self.requests(self.drv.destroy, None, two,
                                network_model.NetworkInfo(vifs2))
        self.assertEqual(SEEDED, sorted(self.vlans()))
        # The last unplug: VirtualNetwork feed, SEA feed, SEA update.
        sea = [m for m, p in reqs if 'NetworkBridge' in p or
               'VirtualNetwork' in p]
        self.assertEqual(['GET', 'GET', 'POST'], sea, reqs)

    def test_detach_removes_unused_vlan_and_flat_uses_pvid(self):
        inst = lc.make_instance(3)
        inst.task_state = None
        self.create_partition(inst)
        tagged = lc.sea_vif(3, 301)
        flat = lc.sea_vif(4, None)
        flat['details'] = {'network_type': 'flat'}
        vif.plug_vifs(self.drv.adapter, inst, [tagged, flat])
        self.assertIn(301, self.vlans())
        pvids = {c.mac: c.pvid for c in self.cnas(inst)}
        # Untagged (flat): the SEA's PVID.
        self.assertEqual({'FA163E000003': 301, 'FA163E000004': 2227}, pvids)
        self.drv.detach_interface(None, inst, tagged)
        self.drv.detach_interface(None, inst, flat)
        self.assertEqual(SEEDED, sorted(self.vlans()))
        self.assertEqual([], self.cnas(inst))
