"""NPIV connector: WWPN generation, kept state, virtual FC mappings."""
import fixtures
from nova import exception as nova_exc
from nova import test
from pypowervm.tasks import vfc_mapper as tsk_vfc

from nova_powervm.tests.virt.powervm.volume import fakes
from nova_powervm.virt.powervm.volume import npiv

V_WWPNS = ['C0507600AAAA0000', 'C0507600AAAA0001',
           'C0507600AAAA0002', 'C0507600AAAA0003']
P1 = fakes.VIOS1_PORTS[0].upper()
P2 = fakes.VIOS2_PORTS[0].upper()


def conn_info(vol='vol-1'):
    return {'driver_volume_type': 'fibre_channel',
            'data': {'volume_id': vol, 'target_wwn': ['500507680b2155e4'],
                     'target_lun': 1}}


class NPIVTestBase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.srv = fakes.FakeVioServer()
        self.adpt = self.srv.adpt
        self.inst = fakes.FakeInstance()
        npiv.fabric_names()
        self.flags(fabric_A_port_wwpns='%s,%s' % (P1, P2), ports_per_fabric=2,
                   group='powervm')
        self.wwpn_job = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.vfc_mapper.build_wwpn_pair')).mock
        self.wwpn_job.return_value = list(V_WWPNS)

    def vol(self, info=None, stg_ftsk=None):
        return npiv.NPIVVolumeAdapter(self.adpt, fakes.HOST_UUID, self.inst,
                                      info or conn_info(), stg_ftsk=stg_ftsk)

    def client_wwpns(self, vios_uuid):
        vm_uuid = self.vol().vm_uuid
        return [set(m.client_adapter.wwpns) for m in tsk_vfc.find_maps(
            self.srv.vios(vios_uuid).vfc_mappings, vm_uuid)
            if m.client_adapter is not None]


class TestConnector(NPIVTestBase):

    def test_generates_once_and_keeps_wwpns(self):
        props = npiv.NPIVVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertEqual([w.lower() for w in V_WWPNS], props['wwpns'])
        self.wwpn_job.assert_called_once_with(self.adpt, fakes.HOST_UUID,
                                              pair_count=2)
        # One map per physical port, spread over both VIOSes.
        maps = npiv.get_port_maps(self.inst, 'A')
        self.assertEqual({P1, P2}, {p for p, _v in maps})
        self.assertEqual({'%s %s' % tuple(V_WWPNS[:2]),
                          '%s %s' % tuple(V_WWPNS[2:])},
                         {v for _p, v in maps})
        self.inst.save.assert_called_once_with()
        self.assertIn('npiv_adpt_wwpns_A', self.inst.system_metadata)
        reads = len(self.srv.reads)
        again = npiv.NPIVVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertEqual(props, again)
        self.assertEqual(1, self.wwpn_job.call_count)
        self.assertEqual(reads, len(self.srv.reads))

    def test_two_fabrics(self):
        self.flags(fabrics='A,B', ports_per_fabric=1, group='powervm')
        npiv.fabric_names()
        self.flags(fabric_A_port_wwpns=P1, fabric_B_port_wwpns=P2,
                   group='powervm')
        self.wwpn_job.side_effect = [V_WWPNS[:2], V_WWPNS[2:]]
        props = npiv.NPIVVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertEqual(4, len(props['wwpns']))
        self.assertEqual([(P1, '%s %s' % tuple(V_WWPNS[:2]))],
                         npiv.get_port_maps(self.inst, 'A'))
        self.assertEqual([(P2, '%s %s' % tuple(V_WWPNS[2:]))],
                         npiv.get_port_maps(self.inst, 'B'))

    def test_fabric_without_active_port(self):
        self.flags(fabric_A_port_wwpns='21000024FF000000', group='powervm')
        exc = self.assertRaises(
            nova_exc.InvalidConfiguration,
            npiv.NPIVVolumeAdapter.get_connector_properties,
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertIn('fabric_A_port_wwpns', str(exc))
        self.assertEqual({}, self.inst.system_metadata)
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.vol().connect_volume)
        self.assertEqual([], self.srv.posts)


class TestConnect(NPIVTestBase):

    def test_connect_maps_virtual_ports(self):
        self.vol().connect_volume()
        self.assertEqual(sorted([fakes.VIOS1, fakes.VIOS2]),
                         sorted(self.srv.posts))
        got = self.client_wwpns(fakes.VIOS1) + self.client_wwpns(
            fakes.VIOS2)
        self.assertEqual(sorted([set(V_WWPNS[:2]), set(V_WWPNS[2:])],
                                key=sorted),
                         sorted(got, key=sorted))
        # A second volume reuses the adapters: nothing posted.
        self.srv.posts = []
        self.vol(conn_info('vol-2')).connect_volume()
        self.assertEqual([], self.srv.posts)
        self.assertEqual(1, self.wwpn_job.call_count)

    def test_post_failure_removes_what_was_added(self):
        self.srv.fail_post[fakes.VIOS2] = fakes.http_error(500)
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.vol().connect_volume)
        self.assertEqual([], self.client_wwpns(fakes.VIOS1))
        self.assertEqual([], self.client_wwpns(fakes.VIOS2))

    def test_state_recovered_from_vios_when_metadata_lost(self):
        self.vol().connect_volume()
        self.inst.system_metadata.clear()
        props = npiv.NPIVVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertEqual(sorted(w.lower() for w in V_WWPNS),
                         sorted(props['wwpns']))
        self.assertEqual(1, self.wwpn_job.call_count)

    def test_port_gone_rehomes_keeping_wwpns(self):
        self.flags(fabric_A_port_wwpns='%s,%s' % (P1, P2), group='powervm')
        npiv.set_port_maps(self.inst, 'A', [
            ('21000024FF000000', '%s %s' % tuple(V_WWPNS[:2]))])
        self.vol().connect_volume()
        maps = npiv.get_port_maps(self.inst, 'A')
        self.assertEqual(1, len(maps))
        self.assertIn(maps[0][0], (P1, P2))
        self.assertEqual('%s %s' % tuple(V_WWPNS[:2]), maps[0][1])
        self.assertEqual(1, len(self.srv.posts))


class TestDisconnect(NPIVTestBase):

    def test_not_last_volume_keeps_adapters(self):
        self.vol().connect_volume()
        self.srv.posts = []
        vol = self.vol()
        vol.last_volume = False
        vol.disconnect_volume()
        self.assertEqual([], self.srv.posts)
        self.assertEqual(1, len(self.client_wwpns(fakes.VIOS1)))

    def test_last_volume_removes_adapters_keeps_wwpns(self):
        self.vol().connect_volume()
        meta = dict(self.inst.system_metadata)
        self.srv.posts = []
        self.vol().disconnect_volume()
        self.assertEqual(sorted([fakes.VIOS1, fakes.VIOS2]),
                         sorted(self.srv.posts))
        self.assertEqual([], self.client_wwpns(fakes.VIOS1))
        self.assertEqual([], self.client_wwpns(fakes.VIOS2))
        self.assertEqual(meta, self.inst.system_metadata)
        # Idempotent.
        self.srv.posts = []
        self.vol().disconnect_volume()
        self.assertEqual([], self.srv.posts)

    def test_post_failure(self):
        self.vol().connect_volume()
        self.srv.fail_post[fakes.VIOS1] = fakes.http_error(500)
        self.assertRaises(nova_exc.VolumeDetachFailed,
                          self.vol().disconnect_volume)

    def test_extend_is_noop(self):
        self.vol().extend_volume()
        self.assertEqual([], self.srv.reads)
