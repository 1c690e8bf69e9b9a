"""Simulator FC model through pypowervm: hdisks, NPIV, VFC mappings."""
from lxml import etree
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import vfc_mapper as tsk_vfc
from pypowervm.wrappers import base_partition as bp
from pypowervm.wrappers import job as pvm_job
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.simulator import base

TARGETS = ['500507680B215660', '500507680B215661']
XAGS = [pvm_const.XAG.VIO_STOR, pvm_const.XAG.VIO_SMAP,
        pvm_const.XAG.VIO_FMAP]


class FCTestCase(base.SimTestCase):

    def vioses(self):
        return {v.uuid: v for v in pvm_vios.VIOS.get(self.adpt, xag=XAGS)}

    def discover(self, vios_w, lun=1, targets=TARGETS):
        itls = tsk_hdisk.build_itls(vios_w.get_pfc_wwpns(), targets, lun)
        return tsk_hdisk.lua_recovery(self.adpt, vios_w.uuid, itls)

    def lpar(self, name='fc-lpar'):
        lpar = pvm_lpar.LPAR.bld(
            self.adpt, name, bp.PartitionMemoryConfiguration.bld(
                self.adpt, 1024),
            bp.PartitionProcessorConfiguration.bld_shared(self.adpt, 0.5, 1))
        return lpar.create(parent=self.host())


class TestHdisks(FCTestCase):

    def test_ports(self):
        for vios_w in self.vioses().values():
            self.assertEqual(2, len(vios_w.pfc_ports))
            self.assertEqual(2, len(vios_w.get_active_pfc_wwpns()))

    def test_discover_map_remove(self):
        vioses = self.vioses()
        found = {u: self.discover(v) for u, v in vioses.items()}
        udids = {r[2] for r in found.values()}
        self.assertEqual(1, len(udids))    # one LUN, one UDID everywhere
        for status, name, udid in found.values():
            self.assertEqual(tsk_hdisk.LUAStatus.DEVICE_AVAILABLE, status)
            self.assertTrue(name.startswith('hdisk'))
        # Discovering again (rescan) finds the same device.
        vios_w = vioses[self.sim.vios_uuids[0]]
        self.assertEqual(found[vios_w.uuid], self.discover(vios_w))
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=vios_w.uuid, xag=XAGS)
        name, udid = found[vios_w.uuid][1:]
        self.assertIn(name, [pv.name for pv in vios_w.phys_vols])
        # Map it: in use; RemoveDevice refused while mapped.
        lpar = self.lpar()
        pv = pvm_stg.PV.bld(self.adpt, name, udid=udid)
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, pv))
        vios_w = vios_w.update()
        self.assertEqual(tsk_hdisk.LUAStatus.DEVICE_IN_USE,
                         self.discover(vios_w)[0])
        self.assertRaises(pvm_exc.JobRequestFailed, tsk_hdisk.remove_hdisk,
                          self.adpt, '', name, vios_w.uuid)
        tsk_map.remove_maps(vios_w, lpar.uuid)
        vios_w.update()
        tsk_hdisk.remove_hdisk(self.adpt, '', name, vios_w.uuid)
        self.assertNotIn(udid, [u for _n, u in
                                self.sim.inventory()['hdisks']['vios1']])
        self.assertRaises(pvm_exc.JobRequestFailed, tsk_hdisk.remove_hdisk,
                          self.adpt, '', name, vios_w.uuid)

    def test_unreachable_target(self):
        before = self.sim.inventory()
        vios_w = list(self.vioses().values())[0]
        for t in TARGETS:
            self.sim.set_fc_target_reachable(t, False)
        status, name, udid = self.discover(vios_w)
        self.assertFalse(tsk_hdisk.good_discovery(status, name))
        self.assertIsNone(name)
        self.assertEqual(before, self.sim.inventory())
        # One path back: found, with an ITL error.
        self.sim.set_fc_target_reachable(TARGETS[0], True)
        status, name, udid = self.discover(vios_w)
        self.assertEqual(tsk_hdisk.LUAStatus.FOUND_ITL_ERR, status)
        self.assertTrue(tsk_hdisk.good_discovery(status, name))

    def test_bad_lua_input_fails_job(self):
        before = self.sim.inventory()
        vios_uuid = self.sim.vios_uuids[0]
        job_w = pvm_job.Job.wrap(self.adpt.read(
            pvm_vios.VIOS.schema_type, root_id=vios_uuid,
            suffix_type=pvm_const.SUFFIX_TYPE_DO,
            suffix_parm='LUARecovery'))
        self.assertRaises(pvm_exc.JobRequestFailed, job_w.run_job,
                          vios_uuid, job_parms=[job_w.create_job_parameter(
                              'inputXML', '<XML_LIST><oops', cdata=True)])
        self.assertEqual(before, self.sim.inventory())


class TestNPIV(FCTestCase):

    def test_wwpns_map_unmap_cascade(self):
        before = self.sim.inventory()
        wwpns = tsk_vfc.build_wwpn_pair(self.adpt, self.sim.host_uuid,
                                        pair_count=2)
        self.assertEqual(4, len(set(wwpns)))
        lpar = self.lpar()
        vioses = list(self.vioses().values())
        p_wwpns = [p.wwpn for v in vioses for p in v.pfc_ports]
        maps = tsk_vfc.derive_npiv_map(vioses, p_wwpns[:1], wwpns[:2])
        vios_w = tsk_vfc.find_vios_for_port_map(vioses, maps[0])
        tsk_vfc.add_map(vios_w, self.sim.host_uuid, lpar.uuid, maps[0])
        vios_w = vios_w.update()
        found = tsk_vfc.find_maps(vios_w.vfc_mappings, lpar.uuid)
        self.assertEqual(1, len(found))
        vmap = found[0]
        self.assertEqual(set(w.upper() for w in wwpns[:2]),
                         set(vmap.client_adapter.wwpns))
        self.assertEqual(vmap.backing_port.wwpn, maps[0][0])
        self.assertEqual(lpar.id, vmap.server_adapter.lpar_id)
        self.assertEqual(vmap.backing_port.name, vmap.server_adapter.map_port)
        port = [p for p in pvm_vios.VIOS.get(
            self.adpt, uuid=vios_w.uuid, xag=XAGS).pfc_ports
            if p.wwpn == maps[0][0]][0]
        self.assertEqual(63, port.npiv_available_ports)
        # The same client WWPNs twice: refused.
        stale = pvm_vios.VIOS.get(self.adpt, uuid=vios_w.uuid, xag=XAGS)
        stale.vfc_mappings.append(pvm_vios.VFCMapping.bld(
            self.adpt, self.sim.host_uuid, lpar.uuid,
            vmap.backing_port.name, client_wwpns=wwpns[:2]))
        self.assertRaises(pvm_exc.HttpError, stale.update)
        # Deleting the partition removes the mapping and frees the port.
        lpar.delete()
        self.assertEqual(before['vfc_mappings'],
                         self.sim.inventory()['vfc_mappings'])
        self.assertEqual(before['fc_ports'], self.sim.inventory()['fc_ports'])

    def test_bad_wwpn_request(self):
        from pypowervm.wrappers import managed_system as pvm_ms
        job_w = pvm_job.Job.wrap(self.adpt.read(
            pvm_ms.System.schema_type, root_id=self.sim.host_uuid,
            suffix_type=pvm_const.SUFFIX_TYPE_DO,
            suffix_parm='GetNextWWPNs'))
        self.assertRaises(pvm_exc.JobRequestFailed, job_w.run_job,
                          self.sim.host_uuid, job_parms=[
                              job_w.create_job_parameter(
                                  'numberPairsRequested', '9')])

    def test_unknown_port_rejected(self):
        before = self.sim.inventory()
        lpar = self.lpar()
        before = self.sim.inventory()
        vios_w = list(self.vioses().values())[0]
        vios_w.vfc_mappings.append(pvm_vios.VFCMapping.bld(
            self.adpt, self.sim.host_uuid, lpar.uuid, 'fcs9'))
        self.assertRaises(pvm_exc.HttpError, vios_w.update)
        self.assertEqual(before, self.sim.inventory())


class TestGroupedUpdate(FCTestCase):
    """A VIOS update with one group keeps the other groups' content."""

    def others(self, uuid, xag):
        """Canonical XML of each grouped element not ViosSCSIMapping's."""
        body = self.adpt.read(pvm_vios.VIOS.schema_type, root_id=uuid,
                              xag=xag).body
        root = etree.fromstring(body.encode() if isinstance(body, str)
                                else body)
        return [('/'.join(etree.QName(a).localname for a in reversed(
                 [d] + list(d.iterancestors()))),
                 etree.canonicalize(etree.tostring(d).decode(),
                                    rewrite_prefixes=True))
                for d in root.iter()
                if d.get('group') not in (None, 'ViosSCSIMapping')]

    def test_smap_update_keeps_port_disks(self):
        uuid = self.sim.vios_uuids[0]
        _status, name, udid = self.discover(self.vioses()[uuid])
        before = [(x, self.others(uuid, x)) for x in ([], XAGS[:1])]
        paths = [p for p, _ in before[0][1]]
        self.assertTrue(any('PhysicalFibreChannelPort' in p and
                            p.endswith('PhysicalVolumes') for p in paths))
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=uuid, xag=XAGS[1:2])
        lpar = self.lpar()
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid,
            pvm_stg.PV.bld(self.adpt, name, udid=udid)))
        vios_w.update()
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=uuid, xag=XAGS[1:2])
        self.assertEqual([name], [m.backing_storage.name for m in
                                  tsk_map.find_maps(vios_w.scsi_mappings,
                                                    client_lpar_id=lpar.id)])
        for xag, want in before:
            self.assertEqual(want, self.others(uuid, xag))
