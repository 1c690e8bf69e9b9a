"""Volume connectors' live migration steps (vSCSI, NPIV)."""
from nova import exception as nova_exc
from pypowervm.tasks import hdisk as tsk_hdisk

from nova_powervm.tests.virt.powervm.volume import fakes
from nova_powervm.tests.virt.powervm.volume import test_npiv
from nova_powervm.tests.virt.powervm.volume import test_vscsi
from nova_powervm.virt.powervm.volume import driver as v_driver
from nova_powervm.virt.powervm.volume import npiv
from nova_powervm.virt.powervm.volume import vscsi


class TestVscsiDestination(test_vscsi.VscsiTestBase):

    def _ids(self):
        return {u: self.srv.vios(u).id for u in (fakes.VIOS1, fakes.VIOS2)}

    def test_discovers_on_every_vios_and_notes_them(self):
        info = test_vscsi.conn_info()
        vol_data = {}
        self.vol(info).pre_live_migration_on_destination(vol_data)
        ids = self._ids()
        self.assertEqual(
            {v_driver.lpm_vscsi_key(test_vscsi.UDID): ','.join(
                sorted(str(i) for i in ids.values()))}, vol_data)
        # Discovered with this host's own FC ports; nothing mapped (the
        # migration builds the mappings).
        self.assertEqual(2, self.discover.call_count)
        self.assertEqual([], self.srv.posts)
        self.assertEqual(test_vscsi.UDID, info['data'][vscsi.UDID_KEY])

    def test_not_reachable_removes_what_was_discovered(self):
        self.flags(vscsi_vios_connections_required=2, group='powervm')

        def discover(adpt, vios_uuid, itls, **kw):
            if vios_uuid == fakes.VIOS1:
                return test_vscsi.AVAIL, 'hdisk9', test_vscsi.UDID
            return tsk_hdisk.LUAStatus.ITL_NOT_RELIABLE, None, None
        self.discover.side_effect = discover
        vol_data = {}
        ex = self.assertRaises(
            nova_exc.VolumeAttachFailed,
            self.vol().pre_live_migration_on_destination, vol_data)
        self.assertIn('found on 1 Virtual I/O Server(s), 2 required',
                      str(ex))
        self.assertEqual({}, vol_data)
        self.rm_hdisk.assert_called_once_with(self.adpt, '', 'hdisk9',
                                              fakes.VIOS1)
        self.assertEqual([], self.srv.posts)


class TestNpivDestination(test_npiv.NPIVTestBase):

    def _ports(self):
        """{phys WWPN: 'VIOS ID/port name'} of the recorded feed."""
        found = {}
        for uuid in (fakes.VIOS1, fakes.VIOS2):
            vios_w = self.srv.vios(uuid)
            for port in vios_w.pfc_ports:
                found[port.wwpn.upper()] = '%d/%s' % (vios_w.id, port.name)
        return found

    def test_places_each_adapter_on_a_fabric_port(self):
        npiv.NPIVVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        vol_data = {}
        self.vol().pre_live_migration_on_destination(vol_data)
        ports = self._ports()
        # One entry per client adapter (keyed by its first WWPN), on the
        # fabric's ports P1 / P2; nothing posted.
        self.assertEqual(
            {v_driver.lpm_vfc_key(test_npiv.V_WWPNS[0]),
             v_driver.lpm_vfc_key(test_npiv.V_WWPNS[2])}, set(vol_data))
        self.assertEqual({ports[test_npiv.P1], ports[test_npiv.P2]},
                         set(vol_data.values()))
        self.assertEqual([], self.srv.posts)

    def test_fabric_without_port_here(self):
        npiv.NPIVVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.flags(fabric_A_port_wwpns='21000024FF000000', group='powervm')
        ex = self.assertRaises(
            nova_exc.VolumeAttachFailed,
            self.vol().pre_live_migration_on_destination, {})
        self.assertIn('NPIV fabric A: 0 of the instance\'s 2', str(ex))

    def test_after_arrival_records_the_ports_used_here(self):
        self.vol().connect_volume()
        used = sorted(npiv.get_port_maps(self.inst, 'A'))
        # As if the instance came from another host's ports.
        npiv.set_port_maps(self.inst, 'A', [
            ('21000024FF000000', fused) for _p, fused in used])
        self.inst.save.reset_mock()
        self.vol().post_live_migration_at_destination()
        self.assertEqual(used, sorted(npiv.get_port_maps(self.inst, 'A')))
        self.inst.save.assert_called_once_with()
        # Nothing to change the next time.
        self.vol().post_live_migration_at_destination()
        self.inst.save.assert_called_once_with()
