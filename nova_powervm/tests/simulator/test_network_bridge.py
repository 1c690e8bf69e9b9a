"""NetworkBridge (SEA) updates: VLANs through pypowervm's bridger."""
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import network_bridger as pvm_nb
from pypowervm.wrappers import network as pvm_net

from nova_powervm.simulator import seed
from nova_powervm.tests.simulator import base


class TestNetworkBridge(base.SimTestCase):

    def nb(self):
        return pvm_net.NetBridge.get(self.adpt, parent=self.host())[0]

    def test_add_and_remove_vlan(self):
        host = self.host()
        self.assertEqual({seed.NB_UUID: [1000, 2227]}, self.sim.sea_vlans())
        pvm_nb.ensure_vlan_on_nb(self.adpt, host.uuid, seed.NB_UUID, 300)
        self.assertEqual([300, 1000, 2227],
                         self.sim.sea_vlans()[seed.NB_UUID])
        self.assertTrue(self.nb().supports_vlan(300))
        pvm_nb.remove_vlan_from_nb(self.adpt, host.uuid, seed.NB_UUID, 300)
        self.assertEqual([1000, 2227], self.sim.sea_vlans()[seed.NB_UUID])

    def test_new_trunk_adapter_gets_server_fields(self):
        nb = self.nb()
        vsw = pvm_net.VSwitch.get(self.adpt, parent=self.host())[0]
        trunk = pvm_net.TrunkAdapter.bld(self.adpt, 4000, [301], vsw,
                                         trunk_pri=1)
        nb.seas[0].addl_adpts.append(trunk)
        nb = nb.update()
        added = [t for t in nb.seas[0].addl_adpts if t.pvid == 4000][0]
        self.assertEqual([301], added.tagged_vlans)
        self.assertTrue(added.dev_name.startswith('ent'))
        self.assertIsNotNone(added.loc_code)
        self.assertIn(4000, [lg.pvid for lg in nb.load_grps])

    def _refused(self, change, text):
        nb = self.nb()
        change(nb)
        err = self.assertRaises(pvm_exc.HttpError, nb.update)
        self.assertEqual(400, err.response.status)
        self.assertIn(text, err.response.body.decode()
                      if isinstance(err.response.body, bytes)
                      else err.response.body)
        self.assertEqual([1000, 2227], self.sim.sea_vlans()[seed.NB_UUID])

    def test_refused_updates_change_nothing(self):
        self._refused(lambda nb: nb.seas[0].addl_adpts[0].tagged_vlans
                      .append(2227), 'VLAN 2227 is on two trunk adapters')
        self._refused(lambda nb: nb.seas[0].addl_adpts[0].tagged_vlans
                      .extend(range(1, 21)), 'at most 20 tagged VLANs')
        self._refused(lambda nb: nb.seas[0].addl_adpts[0].tagged_vlans
                      .append(4095), 'not a VLAN id')
