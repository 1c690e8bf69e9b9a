"""Live partition mobility between two simulated hosts, through pypowervm's
``tasks.migration`` (the multi-host fixture)."""
import threading
import time

from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import management_console as tsk_mc
from pypowervm.tasks import migration as tsk_mig
from pypowervm.tasks import power as tsk_power
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.tasks import vfc_mapper as tsk_vfc
from pypowervm.wrappers import base_partition as bp
from pypowervm.wrappers import cluster as pvm_clust
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import management_console as pvm_mc
from pypowervm.wrappers import network as pvm_net
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import cli
from nova_powervm.simulator import control
from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests import base as test_base
from nova_powervm.tests.simulator import base

TARGETS = ['500507680B215660', '500507680B215661']
XAGS = [pvm_const.XAG.VIO_STOR, pvm_const.XAG.VIO_SMAP,
        pvm_const.XAG.VIO_FMAP]


class MobilityTestCase(test_base.TestCase):
    """Two hosts (A, B) and an adapter on each.

    Shared by the tests of a class, reset before each.
    """

    @classmethod
    def setUpClass(cls):
        super(MobilityTestCase, cls).setUpClass()
        cls.fix = sim_fixture.SimulatorFixture(
            hosts=2, event_hold_s=0.2, power_delay_s=0.0)
        cls.fix.setUp()
        cls.a, cls.b = cls.fix.sims
        cls.sessions = [base.session(s) for s in cls.fix.sims]
        cls.ad_a, cls.ad_b = [pvm_adpt.Adapter(s) for s in cls.sessions]
        cls.name_b0 = pvm_ms.System.get(cls.ad_b)[0].system_name

    @classmethod
    def tearDownClass(cls):
        for sess in cls.sessions:
            sess._logoff()
        cls.fix.cleanUp()
        super(MobilityTestCase, cls).tearDownClass()

    def setUp(self):
        super(MobilityTestCase, self).setUp()
        self.a.reset()
        self.name_b = self.name_b0
        # Each NovaLink authorizes the other's key (the SSH the move uses).
        tsk_mc.add_authorized_key(self.ad_b, tsk_mc.get_public_key(
            self.ad_a))
        tsk_mc.add_authorized_key(self.ad_a, tsk_mc.get_public_key(
            self.ad_b))

    def lpar(self, name='mover', run=True, mem=1024, on_b=False):
        adpt, sim = (self.ad_b, self.b) if on_b else (self.ad_a, self.a)
        host = pvm_ms.System.get(adpt)[0]
        lpar = pvm_lpar.LPAR.bld(
            adpt, name, bp.PartitionMemoryConfiguration.bld(adpt, mem),
            bp.PartitionProcessorConfiguration.bld_shared(adpt, 0.5, 1))
        lpar = lpar.create(parent=host)
        if run:
            tsk_power.power_on(lpar, host.uuid)
            sim.set_rmc(lpar.uuid, True)
        return pvm_lpar.LPAR.get(adpt, uuid=lpar.uuid)

    def vios(self, adpt, sim, i=0):
        return pvm_vios.VIOS.get(adpt, uuid=sim.vios_uuids[i], xag=XAGS)

    def map_lu(self, lpar, name='boot_lu'):
        cluster = pvm_clust.Cluster.get(self.ad_a)[0]
        tier = pvm_stg.Tier.search(
            self.ad_a, parent_type=pvm_stg.SSP, parent_uuid=cluster.ssp_uuid,
            is_default=True, one_result=True)
        _t, lu = tsk_stg.crt_lu(tier, name, 1, typ=pvm_stg.LUType.DISK)
        self._map(lpar, pvm_stg.LU.bld_ref(self.ad_a, lu.name, lu.udid))
        return lu

    def _map(self, lpar, ref, i=0):
        vios_w = self.vios(self.ad_a, self.a, i)
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, ref))
        vios_w.update()

    def discover(self, adpt, sim, lun=1):
        vios_w = self.vios(adpt, sim)
        itls = tsk_hdisk.build_itls(vios_w.get_pfc_wwpns(), TARGETS, lun)
        return tsk_hdisk.lua_recovery(adpt, vios_w.uuid, itls)

    def map_hdisk(self, lpar, on_target=True):
        _s, name, udid = self.discover(self.ad_a, self.a)
        if on_target:
            self.hdisk_b = self.discover(self.ad_b, self.b)[1]
        self._map(lpar, pvm_stg.PV.bld(self.ad_a, name, udid=udid))
        return udid

    def map_npiv(self, lpar):
        wwpns = tsk_vfc.build_wwpn_pair(self.ad_a, self.a.host_uuid)
        vioses = pvm_vios.VIOS.get(self.ad_a, xag=XAGS)
        p_wwpns = [p.wwpn for v in vioses for p in v.pfc_ports]
        fmap = tsk_vfc.derive_npiv_map(vioses, p_wwpns[:1], wwpns)[0]
        vios_w = tsk_vfc.find_vios_for_port_map(vioses, fmap)
        tsk_vfc.add_map(vios_w, self.a.host_uuid, lpar.uuid, fmap)
        vios_w.update()
        return [w.upper() for w in wwpns]

    def migrate(self, lpar, validate_only=False, **kw):
        kw.setdefault('tgt_mgmt_svr', self.b.host)
        kw.setdefault('tgt_mgmt_usr', 'wlp')
        tsk_mig.migrate_lpar(lpar, self.name_b, validate_only=validate_only,
                             **kw)

    def assertRefused(self, lpar, text, **kw):
        """Validation and migration both fail naming text; nothing moved."""
        before = (self.a.inventory(), self.b.inventory())
        for validate in (True, False):
            e = self.assertRaises(pvm_exc.JobRequestFailed, self.migrate,
                                  lpar, validate_only=validate, **kw)
            self.assertIn(text, str(e))
        self.assertEqual(before, (self.a.inventory(), self.b.inventory()))


class TestMigrate(MobilityTestCase):

    def test_validate_changes_nothing(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        before = (self.a.inventory(), self.b.inventory())
        self.migrate(lpar, validate_only=True)
        self.assertEqual(before, (self.a.inventory(), self.b.inventory()))

    def test_migrate_ssp_vscsi_npiv(self):
        lpar = self.lpar()
        nvram = self.a.nvram(lpar.uuid)
        self.map_lu(lpar)
        udid = self.map_hdisk(lpar)
        wwpns = self.map_npiv(lpar)
        ports_b = self.b.inventory()['fc_ports']
        host = pvm_ms.System.get(self.ad_a)[0]
        vsw = [s for s in pvm_net.VSwitch.get(self.ad_a, parent=host)
               if s.name == 'ETHERNET0'][0]
        cna = pvm_net.CNA.bld(self.ad_a, 1234, vsw.related_href).create(
            parent=lpar)
        free_a = self.a.inventory()['host']
        free_b = self.b.inventory()['host']
        self.migrate(lpar)
        inv_a, inv_b = self.a.inventory(), self.b.inventory()
        self.assertNotIn(lpar.uuid, inv_a['partitions'])
        moved = inv_b['partitions'][lpar.uuid]
        self.assertEqual(('mover', 'running', 'active'),
                         (moved['name'], moved['state'], moved['rmc']))
        # Capacity: freed on A, taken on B.
        self.assertEqual(free_a['free_memory_mb'] + 1024,
                         inv_a['host']['free_memory_mb'])
        self.assertEqual(free_b['free_memory_mb'] - 1024,
                         inv_b['host']['free_memory_mb'])
        # Mappings: gone from A's VIOSes, rebuilt on B's (same slots).
        self.assertEqual([], [m for m in inv_a['scsi_mappings']
                              if m['client'] == lpar.uuid])
        self.assertEqual([], [m for m in inv_a['vfc_mappings']
                              if m['client'] == lpar.uuid])
        on_b = sorted((m['vios'], m['storage_type'], m['storage'])
                      for m in inv_b['scsi_mappings']
                      if m['client'] == lpar.uuid)
        self.assertEqual([('vios1', 'LogicalUnit', 'boot_lu'),
                          ('vios1', 'PhysicalVolume', self.hdisk_b)], on_b)
        vfc_b = [m for m in inv_b['vfc_mappings'] if m['client'] == lpar.uuid]
        self.assertEqual([' '.join(wwpns)], [m['wwpns'] for m in vfc_b])
        port = '%s/%s' % (vfc_b[0]['vios'], vfc_b[0]['port'])
        self.assertEqual(ports_b[port]['available'] - 1,
                         inv_b['fc_ports'][port]['available'])
        vios_b = self.vios(self.ad_b, self.b)
        self.assertIn(udid, [m.backing_storage.udid
                             for m in vios_b.scsi_mappings
                             if m.server_adapter.lpar_id ==
                             inv_b['partitions'][lpar.uuid]['id']])
        # Network adapter and NVRAM on B; through B's REST API.
        lpar_b = pvm_lpar.LPAR.get(self.ad_b, uuid=lpar.uuid)
        self.assertEqual('Not_Migrating', lpar_b.migration_state)
        self.assertEqual(self.b.host_uuid,
                         lpar_b.assoc_sys_uuid)
        cnas = pvm_net.CNA.get(self.ad_b, parent=lpar_b)
        self.assertEqual([(cna.mac, 1234)], [(c.mac, c.pvid) for c in cnas])
        self.assertEqual(nvram, self.b.nvram(lpar.uuid))
        self.assertRaises(pvm_exc.HttpError, pvm_lpar.LPAR.get, self.ad_a,
                          uuid=lpar.uuid)
        self.assertEqual({}, inv_a['migrations'])
        self.assertEqual({}, inv_b['migrations'])

    def test_events_on_both_hosts(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        for sim in (self.a, self.b):
            sim.events.poll('t', hold_s=0)
        self.migrate(lpar)
        ev_a, ev_b = [[e[1:] for e in sim.events.poll('t', hold_s=0)]
                      for sim in (self.a, self.b)]
        mine = lambda evs, t: [d for typ, h, d in evs
                               if typ == t and h.endswith(
                                   '/LogicalPartition/' + lpar.uuid)]
        self.assertEqual([None], mine(ev_b, 'ADD_URI'))
        self.assertIn('PartitionState', mine(ev_b, 'MODIFY_URI'))
        self.assertEqual([], mine(ev_b, 'DELETE_URI'))
        self.assertIn('PartitionState', mine(ev_a, 'MODIFY_URI'))
        self.assertEqual([None], mine(ev_a, 'DELETE_URI'))
        vios = lambda evs, sim: {h.rsplit('/', 1)[1] for typ, h, d in evs
                                 if typ == 'MODIFY_URI' and
                                 '/VirtualIOServer/' in h} & set(
                                     sim.vios_uuids)
        self.assertEqual({self.a.vios_uuids[0]}, vios(ev_a, self.a))
        self.assertEqual({self.b.vios_uuids[0]}, vios(ev_b, self.b))

    def test_round_trip_and_named_vioses(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        wwpns = self.map_npiv(lpar)
        slots = {m['client_slot'] for m in self.a.inventory()['vfc_mappings']}
        # The target's own mapping builder names vios2 and its port fcs1.
        vioses_b = pvm_vios.VIOS.get(self.ad_b, xag=XAGS)
        v2 = [v for v in vioses_b if v.name == 'vios2'][0]
        fc_maps = tsk_vfc.build_migration_mappings_for_fabric(
            vioses_b, [p.wwpn for p in v2.pfc_ports if p.name == 'fcs1'],
            [int(x) for x in slots])
        self.assertEqual(['%s/vios2/%d//fcs1' % (slots.pop(), v2.id)],
                         fc_maps)
        self.migrate(lpar, virtual_fc_mappings=fc_maps,
                     virtual_scsi_mappings=['3/vios2/'])
        inv_b = self.b.inventory()
        self.assertEqual([('vios2', 'boot_lu')], [
            (m['vios'], m['storage']) for m in inv_b['scsi_mappings']
            if m['client'] == lpar.uuid])
        self.assertEqual([('vios2', 'fcs1', ' '.join(wwpns))], [
            (m['vios'], m['port'], m['wwpns'])
            for m in inv_b['vfc_mappings'] if m['client'] == lpar.uuid])
        # And back to A through B's endpoint.
        back = pvm_lpar.LPAR.get(self.ad_b, uuid=lpar.uuid)
        tsk_mig.migrate_lpar(back, pvm_ms.System.get(self.ad_a)[0]
                             .system_name, tgt_mgmt_svr=self.a.host,
                             tgt_mgmt_usr='wlp')
        inv_a, inv_b = self.a.inventory(), self.b.inventory()
        self.assertEqual('running', inv_a['partitions'][lpar.uuid]['state'])
        self.assertNotIn(lpar.uuid, inv_b['partitions'])
        self.assertEqual([('vios2', 'fcs1')], [
            (m['vios'], m['port']) for m in inv_a['vfc_mappings']
            if m['client'] == lpar.uuid])
        self.assertEqual([], [m for m in inv_b['vfc_mappings'] +
                              inv_b['scsi_mappings']
                              if m['client'] == lpar.uuid])

    def test_vlan_mappings(self):
        lpar = self.lpar()
        host = pvm_ms.System.get(self.ad_a)[0]
        vsw = [s for s in pvm_net.VSwitch.get(self.ad_a, parent=host)
               if s.name == 'ETHERNET0'][0]
        cna = pvm_net.CNA.bld(self.ad_a, 100, vsw.related_href).create(
            parent=lpar)
        self.migrate(lpar, vlan_mappings=['%s/200' % cna.mac])
        cnas = pvm_net.CNA.get(self.ad_b, parent=pvm_lpar.LPAR.get(
            self.ad_b, uuid=lpar.uuid))
        self.assertEqual([(cna.mac, 200, cna.slot)],
                         [(c.mac, c.pvid, c.slot) for c in cnas])

    def test_concurrent_migrations(self):
        lpars = [self.lpar('mover%d' % i) for i in range(4)]
        for lpar in lpars:
            self.map_lu(lpar, name='lu_%s' % lpar.name)
        errs = []

        def run(lpar):
            try:
                self.migrate(lpar)
            except Exception as e:
                errs.append(e)
        threads = [threading.Thread(target=run, args=(lp,)) for lp in lpars]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([], errs)
        inv_a, inv_b = self.a.inventory(), self.b.inventory()
        for lpar in lpars:
            self.assertNotIn(lpar.uuid, inv_a['partitions'])
            self.assertEqual('running',
                             inv_b['partitions'][lpar.uuid]['state'])
        self.assertEqual({lp.uuid for lp in lpars},
                         {m['client'] for m in inv_b['scsi_mappings']})
        ms = pvm_ms.System.get(self.ad_b)[0]
        self.assertEqual(0, ms.migration_data[
            'active_migrations_in_progress'])

    def test_inactive_migration(self):
        lpar = self.lpar(run=False)
        self.map_lu(lpar)
        self.migrate(lpar)
        moved = self.b.inventory()['partitions'][lpar.uuid]
        self.assertEqual('not activated', moved['state'])

    def test_running_on_both_hosts_then_events(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        self.a.set_migration(duration_s=4)
        seen = []
        t = threading.Thread(target=lambda: seen.append(
            self.migrate(lpar)))
        t.start()
        self.addCleanup(t.join)
        deadline = time.time() + 5
        while time.time() < deadline:
            if lpar.uuid in self.b.inventory()['partitions']:
                break
            time.sleep(0.05)
        for adpt in (self.ad_a, self.ad_b):
            w = pvm_lpar.LPAR.get(adpt, uuid=lpar.uuid)
            self.assertEqual(('migrating running', 'Migration_In_Progress'),
                             (w.state, w.migration_state))
        for sim in (self.a, self.b):
            self.assertEqual('running',
                             sim.inventory()['migrations'][lpar.uuid][
                                 'phase'])
        # A partition that is migrating cannot be changed or powered off.
        w = pvm_lpar.LPAR.get(self.ad_a, uuid=lpar.uuid)
        w.name = 'renamed'
        self.assertRaises(pvm_exc.HttpError, w.update)
        t.join()
        self.assertEqual([None], seen)
        self.assertNotIn(lpar.uuid, self.a.inventory()['partitions'])
        self.assertEqual('running',
                         self.b.inventory()['partitions'][lpar.uuid]['state'])


class TestAbortRecoverFaults(MobilityTestCase):

    def _start(self, lpar, secs=30):
        self.a.set_migration(duration_s=secs)
        errs = []

        def run():
            try:
                self.migrate(lpar)
            except Exception as e:
                errs.append(e)
        t = threading.Thread(target=run)
        t.start()
        self.addCleanup(t.join)
        deadline = time.time() + 5
        while lpar.uuid not in self.b.inventory()['partitions'] and \
                time.time() < deadline:
            time.sleep(0.05)
        return t, errs

    def test_abort(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        before = (self.a.inventory(), self.b.inventory())
        t, errs = self._start(lpar)
        # Recover refuses a running migration; abort works on either host.
        e = self.assertRaises(pvm_exc.JobRequestFailed,
                              tsk_mig.migrate_recover, lpar)
        self.assertIn('HSCL1B86', str(e))
        tsk_mig.migrate_abort(pvm_lpar.LPAR.get(self.ad_b, uuid=lpar.uuid))
        # The Migrate job ends at once, not at the end of its 30 s.
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(1, len(errs))
        self.assertIn('HSCL1B80', str(errs[0]))
        self.assertEqual(before, (self.a.inventory(), self.b.inventory()))
        # Nothing to abort any more.
        e = self.assertRaises(pvm_exc.JobRequestFailed,
                              tsk_mig.migrate_abort, lpar)
        self.assertIn('HSCL1B84', str(e))

    def test_fail_midway_rolls_back(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        before = (self.a.inventory(), self.b.inventory())
        self.a.set_migration(fail='rollback')
        e = self.assertRaises(pvm_exc.JobRequestFailed, self.migrate, lpar)
        self.assertIn('HSCL1B81', str(e))
        self.assertEqual(before, (self.a.inventory(), self.b.inventory()))
        # One-shot: the next one works.
        self.migrate(lpar)
        self.assertIn(lpar.uuid, self.b.inventory()['partitions'])

    def test_stuck_then_recover(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        before = (self.a.inventory(), self.b.inventory())
        self.a.set_migration(fail='stuck')
        self.assertRaises(pvm_exc.JobRequestFailed, self.migrate, lpar)
        w = pvm_lpar.LPAR.get(self.ad_a, uuid=lpar.uuid)
        self.assertEqual(('migrating running', 'Migration_Failed'),
                         (w.state, w.migration_state))
        self.assertIn(lpar.uuid, self.b.inventory()['partitions'])
        tsk_mig.migrate_recover(w, force=True)
        self.assertEqual(before, (self.a.inventory(), self.b.inventory()))
        self.assertRaises(pvm_exc.JobRequestFailed, tsk_mig.migrate_recover,
                          w)

    def test_injected_job_failure(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        before = (self.a.inventory(), self.b.inventory())
        self.a.inject_fault(method='PUT', path='/do/Migrate$',
                            job_failure='HSCL0000 injected')
        e = self.assertRaises(pvm_exc.JobRequestFailed, self.migrate, lpar)
        self.assertIn('HSCL0000', str(e))
        self.assertEqual(before, (self.a.inventory(), self.b.inventory()))


class TestRefusals(MobilityTestCase):

    def test_unknown_target(self):
        lpar = self.lpar()
        self.name_b = 'Server-nope'
        self.assertRefused(lpar, 'HSCL1B03')

    def test_no_remote_console(self):
        lpar = self.lpar()
        self.assertRefused(lpar, 'HSCL1B04', tgt_mgmt_svr=None)

    def test_key_not_authorized(self):
        lpar = self.lpar()
        mc = pvm_mc.ManagementConsole.get(self.ad_b)[0]
        self.assertEqual([tsk_mc.get_public_key(self.ad_a)],
                         list(mc.ssh_authorized_keys))
        mc.ssh_authorized_keys = []
        mc.update()
        self.assertRefused(lpar, 'HSCL1B05')
        # A console's own key is the server's; keys must be keys.
        mc = pvm_mc.ManagementConsole.get(self.ad_b)[0]
        self.assertNotEqual(tsk_mc.get_public_key(self.ad_a),
                            mc.ssh_public_key)
        mc.ssh_authorized_keys = ['not a key']
        self.assertRaises(pvm_exc.HttpError, mc.update)

    def test_not_running(self):
        lpar = self.lpar()
        self.a.set_partition_state(lpar.uuid, 'open firmware')
        self.assertRefused(lpar, 'HSCL1B23')

    def test_no_rmc(self):
        lpar = self.lpar()
        self.a.set_rmc(lpar.uuid, False)
        self.assertRefused(lpar, 'HSCL1B25')

    def test_management_partition(self):
        mgmt = pvm_lpar.LPAR.get(self.ad_a, uuid=self.a.mgmt_uuid)
        self.assertRefused(mgmt, 'HSCL1B20')

    def test_not_capable(self):
        lpar = self.lpar()
        self.b.set_host_mobility(active=False)
        self.assertRefused(lpar, 'HSCL1B24')

    def test_proc_compat(self):
        lpar = self.lpar()
        self.assertEqual(('POWER8', 'default'), (
            lpar.proc_compat_mode, lpar.pending_proc_compat_mode))
        self.b.set_host_mobility(proc_compat_modes=['default', 'POWER7'])
        self.assertRefused(lpar, 'HSCL1B30')
        self.b.set_host_mobility(proc_compat_modes=['default', 'POWER8'])
        self.migrate(lpar, validate_only=True)

    def test_headroom(self):
        lpar = self.lpar(mem=100000)
        self.lpar('hog', mem=100000, on_b=True)
        self.assertRefused(lpar, 'HSCL1B31')

    def test_too_many_migrations(self):
        lpar = self.lpar()
        self.a.set_host_mobility(max_active=0)
        self.assertRefused(lpar, 'HSCL1B32')

    def test_name_taken_on_target(self):
        lpar = self.lpar()
        self.lpar(run=False, on_b=True)
        self.assertRefused(lpar, 'HSCL1B33')

    def test_no_mover_service_partition(self):
        lpar = self.lpar()
        for u in self.b.vios_uuids:
            self.b.set_mover_service(u, False)
        self.assertRefused(lpar, 'HSCL1B10')

    def test_msp_ip_not_an_msp(self):
        lpar = self.lpar()
        self.assertRefused(lpar, 'HSCL1B11', dest_msp_name='9.1.2.4')
        # Host B's own VIOS addresses are accepted.
        self.migrate(lpar, validate_only=True, dest_msp_name='9.1.3.4',
                     source_msp_name='9.1.2.5')

    def test_vterm_open(self):
        lpar = self.lpar()
        self.a.open_vterm(lpar.uuid)
        self.assertRefused(lpar, 'HSCL1B27')

    def test_lu_target_vios_not_in_cluster(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        for u in self.b.vios_uuids:
            self.b.set_cluster_member(u, False)
        self.assertRefused(lpar, 'HSCL1B52')

    def test_hdisk_not_discovered_on_target(self):
        lpar = self.lpar()
        self.map_hdisk(lpar, on_target=False)
        self.assertRefused(lpar, 'HSCL1B52')

    def test_vscsi_mapping_names_unknown_vios(self):
        lpar = self.lpar()
        self.map_lu(lpar)
        self.assertRefused(lpar, 'HSCL1B41',
                           virtual_scsi_mappings=['3/nosuchvios/'])
        self.assertRefused(lpar, 'HSCL1B40',
                           virtual_scsi_mappings=['x/vios1/2'])

    def test_local_storage_refused(self):
        lpar = self.lpar()
        vios_w = self.vios(self.ad_a, self.a)
        vg = pvm_stg.VG.get(self.ad_a, parent=vios_w)
        datavg = [g for g in vg if g.name == 'datavg'][0]
        vdisk = tsk_stg.crt_vdisk(self.ad_a, self.a.vios_uuids[0],
                                  datavg.uuid, 'local_d', 1)
        self._map(lpar, vdisk)
        self.assertRefused(lpar, 'HSCL1B51')

    def test_npiv_second_wwpn_not_zoned(self):
        lpar = self.lpar()
        wwpns = self.map_npiv(lpar)
        self.b.set_npiv_login(wwpns[1], allowed=False)
        self.assertRefused(lpar, 'HSCL1B61')
        self.b.set_npiv_login(wwpns[1], allowed=True)
        self.migrate(lpar, validate_only=True)

    def test_npiv_no_free_port_on_target(self):
        lpar = self.lpar()
        self.map_npiv(lpar)
        with self.b.lock:
            for v in self.b.store.of_type('VirtualIOServer'):
                for p in v.element.iter('{*}PhysicalFibreChannelPort'):
                    p.find('{*}AvailablePorts').text = '0'
        self.assertRefused(lpar, 'HSCL1B62')

    def test_bad_vlan_mapping(self):
        lpar = self.lpar()
        self.assertRefused(lpar, 'HSCL1B70', vlan_mappings=['nomac/1'])
        self.assertRefused(lpar, 'HSCL1B71',
                           vlan_mappings=['001122334455/12'])


class TestKnob(test_base.TestCase):

    def test_duration_from_constructor_and_cli(self):
        sim = control.Simulator(migration_s=3.0)
        self.addCleanup(sim.close)
        self.assertEqual({'duration_s': 3.0, 'fail': 'stuck'},
                         sim.set_migration(fail='stuck'))
        self.assertEqual({'duration_s': 0.5, 'fail': None},
                         sim.set_migration(duration_s=0.5))
        self.assertRaises(ValueError, sim.set_migration, fail='boom')
        self.assertEqual(2.5, cli.parse_args(
            ['--migration-delay', '2.5']).migration_delay)
        self.assertEqual(0.1, cli.parse_args([]).migration_delay)
