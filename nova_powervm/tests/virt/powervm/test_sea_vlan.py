"""sea_vlan: what is asked of pypowervm's network bridger, and when."""
import time
from unittest import mock

import fixtures
from pypowervm import exceptions as pvm_exc

from nova_powervm.tests import base as test_base
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import sea_vlan

HOST = 'host-uuid'


def bridge(uuid='nb1', vswitch_id=0, pvid=2227, primary_tagged=(),
           tagged=(1000,)):
    nb = mock.Mock(uuid=uuid, vswitch_id=vswitch_id)
    primary = mock.Mock(pvid=pvid, tagged_vlans=list(primary_tagged))
    nb.seas = [mock.Mock(primary_adpt=primary)]
    vlans = {pvid} | set(primary_tagged) | set(tagged)
    nb.supports_vlan.side_effect = lambda v: int(v) in vlans
    nb.list_vlans.return_value = sorted(vlans)
    return nb


class TestSeaVlan(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.adapter = mock.Mock(name='adapter')
        self.vsw = mock.Mock(uuid='vsw0', switch_id=0)
        self.vsw.name = 'ETHERNET0'
        self.nbs = [bridge('other', vswitch_id=3), bridge()]
        self.nb_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.NetBridge.get',
            side_effect=lambda *a, **k: list(self.nbs))).mock
        self.vnets = []
        self.vnet_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.VNet.get',
            side_effect=lambda *a, **k: list(self.vnets))).mock
        self.ensure = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.network_bridger.ensure_vlan_on_nb')).mock
        self.remove = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.network_bridger.remove_vlan_from_nb')).mock
        self.addCleanup(sea_vlan.reset_cache)

    def test_new_vlan_added_to_the_vswitch_bridge_once(self):
        self.assertEqual(300, sea_vlan.ensure(self.adapter, HOST, self.vsw,
                                              300))
        self.ensure.assert_called_once_with(self.adapter, HOST, 'nb1', 300)
        self.nb_get.assert_called_once_with(
            self.adapter, parent_type=mock.ANY, parent_uuid=HOST)
        # Known now: no request for the next port on it.
        sea_vlan.ensure(self.adapter, HOST, self.vsw, 300)
        self.assertEqual(1, self.nb_get.call_count)
        self.assertEqual(1, self.ensure.call_count)

    def test_bridged_vlan_only_read(self):
        sea_vlan.ensure(self.adapter, HOST, self.vsw, 1000)
        self.ensure.assert_not_called()

    def test_vswitch_without_bridge(self):
        self.nbs = [bridge('other', vswitch_id=3)]
        self.assertEqual(300, sea_vlan.ensure(self.adapter, HOST, self.vsw,
                                              300))
        self.ensure.assert_not_called()
        # Nothing to remove either, and no request for it.
        self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw, 300))
        self.vnet_get.assert_not_called()

    def test_flat_gets_pvid_or_is_refused(self):
        self.assertEqual(2227, sea_vlan.ensure(self.adapter, HOST, self.vsw,
                                               None))
        self.ensure.assert_not_called()
        sea_vlan.reset_cache()
        self.nbs = []
        err = self.assertRaises(exc.VifInvalid, sea_vlan.ensure,
                                self.adapter, HOST, self.vsw, None, 'p1',
                                'vm1')
        self.assertIn('ETHERNET0', str(err))
        self.assertIn('p1', str(err))

    def test_release_unused_vlan(self):
        self.nbs = [bridge(tagged=(1000, 300))]
        self.vnets = [mock.Mock(vlan=300, vswitch_id=3),   # other vswitch
                      mock.Mock(vlan=1000, vswitch_id=0)]
        self.assertTrue(sea_vlan.release(self.adapter, HOST, self.vsw, 300))
        self.remove.assert_called_once_with(
            self.adapter, HOST, 'nb1', 300, existing_nbs=mock.ANY)

    def test_release_keeps_used_and_primary_vlans(self):
        self.nbs = [bridge(primary_tagged=(5,), tagged=(300,))]
        self.vnets = [mock.Mock(vlan=300, vswitch_id=0)]
        self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw, 300))
        self.vnets = []
        for vlan in (2227, 5, 77):     # PVID, primary's tagged, not bridged
            self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw,
                                              vlan))
        self.remove.assert_not_called()
        self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw,
                                          None))

    def test_primary_vlan_remembered_no_request_on_release(self):
        sea_vlan.ensure(self.adapter, HOST, self.vsw, 2227)
        self.vnet_get.reset_mock()
        self.nb_get.reset_mock()
        self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw,
                                          2227))
        self.vnet_get.assert_not_called()
        self.nb_get.assert_not_called()

    def test_release_failure_is_logged_not_raised(self):
        self.nbs = [bridge(tagged=(300,))]
        self.remove.side_effect = pvm_exc.Error('boom')
        self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw, 300))

    def test_port_vlan(self):
        inst = mock.Mock()
        inst.name = 'vm1'
        self.assertEqual(7, sea_vlan.port_vlan(
            inst, {'id': 'p', 'details': {'vlan': '7'}}))
        self.assertEqual(8, sea_vlan.port_vlan(
            inst, {'id': 'p', 'network': {'meta': {'vlan': 8}}}))
        self.assertIsNone(sea_vlan.port_vlan(
            inst, {'id': 'p', 'details': {'network_type': 'flat'}}))
        for bad in ({}, {'vlan': 0}, {'vlan': 'x'}, {'vlan': 4095}):
            self.assertRaises(exc.VifInvalid, sea_vlan.port_vlan, inst,
                              {'id': 'p', 'details': bad})

    def test_warm_then_plugs_and_primary_release_cost_nothing(self):
        sea_vlan.warm(self.adapter, HOST)
        self.assertEqual(1, self.nb_get.call_count)
        for vlan in (1000, 2227):
            sea_vlan.ensure(self.adapter, HOST, self.vsw, vlan)
        self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw, 2227))
        self.assertEqual(1, self.nb_get.call_count)
        self.vnet_get.assert_not_called()
        self.ensure.assert_not_called()

    def test_new_vlan_on_a_known_bridge_left_to_pypowervm(self):
        # pypowervm's bridger reads the bridges itself: no read of ours.
        sea_vlan.warm(self.adapter, HOST)
        self.assertEqual(300, sea_vlan.ensure(self.adapter, HOST, self.vsw,
                                              300))
        self.ensure.assert_called_once_with(self.adapter, HOST, 'nb1', 300)
        self.assertEqual(1, self.nb_get.call_count)
        sea_vlan.ensure(self.adapter, HOST, self.vsw, 300)
        self.assertEqual(1, self.ensure.call_count)
        # Another vswitch's bridge is not this one's.
        vsw3 = mock.Mock(uuid='vsw3', switch_id=3)
        vsw3.name = 'ETHERNET3'
        sea_vlan.ensure(self.adapter, HOST, vsw3, 301)
        self.ensure.assert_called_with(self.adapter, HOST, 'other', 301)

    def test_failed_add_forgets_the_bridge(self):
        sea_vlan.warm(self.adapter, HOST)
        self.ensure.side_effect = pvm_exc.Error('gone')
        self.assertRaises(pvm_exc.Error, sea_vlan.ensure, self.adapter,
                          HOST, self.vsw, 300)
        self.assertEqual(1, self.nb_get.call_count)
        # The bridge may have been replaced: the next plug reads them.
        self.ensure.side_effect = None
        self.nbs = [bridge('nb2')]
        sea_vlan.ensure(self.adapter, HOST, self.vsw, 300)
        self.assertEqual(2, self.nb_get.call_count)
        self.ensure.assert_called_with(self.adapter, HOST, 'nb2', 300)

    def test_known_bridge_stale_after_ttl(self):
        sea_vlan.warm(self.adapter, HOST)
        with mock.patch.object(sea_vlan.time, 'monotonic',
                               return_value=time.monotonic() +
                               sea_vlan._TTL + 1):
            sea_vlan.ensure(self.adapter, HOST, self.vsw, 300)
        self.assertEqual(2, self.nb_get.call_count)
        self.ensure.assert_called_once_with(self.adapter, HOST, 'nb1', 300)

    def test_warm_failure_is_not_fatal(self):
        self.nb_get.side_effect = pvm_exc.Error('down')
        sea_vlan.warm(self.adapter, HOST)
        self.nb_get.side_effect = lambda *a, **k: list(self.nbs)
        sea_vlan.ensure(self.adapter, HOST, self.vsw, 1000)
        self.assertEqual(2, self.nb_get.call_count)

    def test_cold_release_of_primary_vlan_reads_bridges_once(self):
        # No VirtualNetwork feed for a VLAN that stays anyway; remembered.
        for _ in range(2):
            self.assertFalse(sea_vlan.release(self.adapter, HOST, self.vsw,
                                              2227))
        self.assertEqual(1, self.nb_get.call_count)
        self.vnet_get.assert_not_called()

    def test_release_all_tries_a_failed_removal_again(self):
        self.nbs = [bridge(tagged=(300, 301))]
        self.remove.side_effect = [pvm_exc.Error('HTTP 500'), None, None]
        self.assertEqual([300, 301], sea_vlan.release_all(
            self.adapter, HOST, [(self.vsw, 300), (self.vsw, 301)],
            tries=2))
        self.assertEqual([mock.call(self.adapter, HOST, 'nb1', v,
                                    existing_nbs=mock.ANY)
                          for v in (300, 300, 301)],
                         self.remove.call_args_list)

    def test_release_all_logs_each_failed_try(self):
        self.nbs = [bridge(tagged=(300,))]
        self.remove.side_effect = pvm_exc.Error('HTTP 500')
        log = self.useFixture(fixtures.FakeLogger())
        self.assertEqual([], sea_vlan.release_all(
            self.adapter, HOST, [(self.vsw, 300)], tries=2))
        self.assertEqual(2, self.remove.call_count)
        for left in (1, 0):
            self.assertIn('Could not remove VLAN 300 from the Shared '
                          'Ethernet Adapter of virtual switch ETHERNET0 (%d '
                          'more tries): HTTP 500' % left, log.output)

    def test_release_all_does_not_catch_other_errors(self):
        # Only a REST failure is tried again; a bug is not hidden.
        self.nbs = [bridge(tagged=(300,))]
        self.remove.side_effect = TypeError('bug')
        self.assertRaises(TypeError, sea_vlan.release_all, self.adapter,
                          HOST, [(self.vsw, 300)], tries=2)
        self.assertEqual(1, self.remove.call_count)

    def test_release_all_tries_once_by_default(self):
        self.nbs = [bridge(tagged=(300,))]
        self.remove.side_effect = pvm_exc.Error('HTTP 500')
        self.assertEqual([], sea_vlan.release_all(
            self.adapter, HOST, [(self.vsw, 300)]))
        self.assertEqual(1, self.remove.call_count)

    def test_release_all_reads_vnets_once_and_skips_repeats(self):
        self.nbs = [bridge(tagged=(300, 301))]
        vsw3 = mock.Mock(switch_id=3)
        self.assertEqual([300, 301], sea_vlan.release_all(
            self.adapter, HOST,
            [(self.vsw, 300), (self.vsw, 300), (self.vsw, 301),
             (self.vsw, None), (vsw3, 300)]))
        self.assertEqual(1, self.vnet_get.call_count)
        self.assertEqual([mock.call(self.adapter, HOST, 'nb1', v,
                                    existing_nbs=mock.ANY)
                          for v in (300, 301)], self.remove.call_args_list)
