"""Cinder FC volumes (vSCSI and NPIV) against the REST simulator.

Real pypowervm over HTTP.  Assertions read the VIOS mapping state back over
REST (SCSI mappings to the partition, hdisks, virtual FC mappings) and
count the requests each operation costs.

The simulator's Fibre Channel model (physical FC ports, the LUARecovery
hdisk discovery job, RemoveDevice, GetNextWWPNs, virtual FC mappings) comes
from its ``fc*`` hook modules (``TestProbe`` checks it is complete).
"""
import concurrent.futures
from unittest import mock

import fixtures
from nova import exception as nova_exc
from pypowervm import const as pvm_const
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import vfc_mapper as tsk_vfc
from pypowervm.wrappers import storage as pvm_stor
from pypowervm.wrappers import virtual_io_server as pvm_vios
from testtools import content

from nova_powervm.tests.functional import base
from nova_powervm.virt.powervm import driver as pvm_driver
from nova_powervm.virt.powervm import driver_volume
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import vm
from nova_powervm.virt.powervm.volume import npiv
from nova_powervm.virt.powervm.volume import vscsi

TARGETS = ['500507680b2155e4', '500507680b2155e5']
_XAGS = [pvm_const.XAG.VIO_SMAP, pvm_const.XAG.VIO_FMAP,
         pvm_const.XAG.VIO_STOR]


def _instance(n):
    uuid = '3c4d5e6f-0000-4000-8000-%012d' % n
    inst = base.bare_instance(uuid, n, 'volvm%d' % n, image_ref='')
    # No DB in these tests: the NPIV connector's state save is a no-op.
    inst.save = lambda: None
    return inst


def _conn_info(vol_id, lun, itmap_for=None):
    data = {'volume_id': vol_id, 'target_wwn': list(TARGETS),
            'target_lun': lun}
    if itmap_for:
        data['initiator_target_map'] = {w: list(TARGETS) for w in itmap_for}
    return {'driver_volume_type': 'fibre_channel', 'serial': vol_id,
            'data': data}


class VolumeSimTestBase(base.AdapterSimTestCase):

    def setUp(self):
        super().setUp()
        self.host_uuid = self.host_w.uuid
        vscsi._PFC_CACHE.clear()

    # Simulator capabilities -------------------------------------------

    def fc_gaps(self):
        """What of the FC model the simulator lacks (empty when complete)."""
        from nova_powervm.simulator import registry
        gaps = []
        if not any(v.pfc_ports for v in self.vioses()):
            gaps.append('physical FC ports on the VIOSes')
        for key in (('VirtualIOServer', 'LUARecovery'),
                    ('VirtualIOServer', 'RemoveDevice'),
                    ('ManagedSystem', 'GetNextWWPNs')):
            if key not in registry.JOBS:
                gaps.append('%s job %s' % key)
        return gaps

    # Helpers -------------------------------------------------------------

    def vioses(self):
        return pvm_vios.VIOS.get(self.adapter, xag=_XAGS)

    def make_vm(self, n):
        inst = _instance(n)
        vm.create_lpar(self.adapter, self.host_w, inst)
        return inst

    def pv_maps(self, inst):
        """{vios_uuid: [hdisk names mapped to the instance]}."""
        vm_uuid = ids.pvm_uuid(inst)
        res = {}
        for vios_w in self.vioses():
            names = [m.backing_storage.name for m in tsk_map.find_maps(
                vios_w.scsi_mappings, vm_uuid,
                match_func=tsk_map.gen_match_func(pvm_stor.PV))]
            if names:
                res[vios_w.uuid] = sorted(names)
        return res

    def hdisks(self, udid):
        """{vios_uuid: hdisk name} of the VIOSes that know the LUN."""
        res = {}
        for vios_w in self.vioses():
            for pv in vios_w.phys_vols:
                if pv.udid == udid:
                    res[vios_w.uuid] = pv.name
        return res

    def vfc_wwpns(self, inst):
        """Client WWPN pairs of the instance's virtual FC mappings."""
        vm_uuid = ids.pvm_uuid(inst)
        pairs = []
        for vios_w in self.vioses():
            for vmap in tsk_vfc.find_maps(vios_w.vfc_mappings, vm_uuid):
                if vmap.client_adapter is not None:
                    pairs.append(frozenset(
                        w.upper() for w in vmap.client_adapter.wwpns))
        return sorted(pairs, key=sorted)

    def requests(self):
        return [(r['method'], r['path']) for r in self.sim.request_log()]


class FakeBDM(dict):
    """A driver block device as spawn/destroy see it."""

    saved = 0

    def save(self):
        self.saved += 1


class TestProbe(VolumeSimTestBase):

    def test_fc_model(self):
        """The simulator models everything these tests use of FC."""
        self.assertEqual([], self.fc_gaps())


class TestVscsi(VolumeSimTestBase):

    def setUp(self):
        super().setUp()
        self.drv = pvm_driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = self.adapter
        self.drv.host_uuid = self.host_uuid
        self.drv.host_wrapper = self.host_w

    def attach(self, inst, vol_id, lun, **kw):
        info = _conn_info(vol_id, lun, **kw)
        self.drv.attach_volume(None, info, inst, '/dev/sdb')
        return info

    def counts(self):
        log = self.sim.request_log()
        res = {'total': len(log)}
        for r in log:
            res[r['method']] = res.get(r['method'], 0) + 1
        return res

    def test_attach_detach(self):
        inst = self.make_vm(1)
        self.sim.clear_request_log()
        info = self.attach(inst, 'vol-a', 1)
        attach_counts = self.counts()
        udid = info['data'][vscsi.UDID_KEY]
        self.assertTrue(udid)
        vioses = sorted(self.sim.vios_uuids)
        self.assertEqual(vioses, sorted(self.pv_maps(inst)))
        self.assertEqual(vioses, sorted(self.hdisks(udid)))
        for vios_uuid, names in self.pv_maps(inst).items():
            self.assertEqual([self.hdisks(udid)[vios_uuid]], names)
        self.sim.clear_request_log()
        self.drv.detach_volume(None, info, inst, '/dev/sdb')
        detach_counts = self.counts()
        self.assertEqual({}, self.pv_maps(inst))
        self.assertEqual({}, self.hdisks(udid))
        self.addDetail('rest_requests', content.text_content(
            'attach %s detach %s' % (attach_counts, detach_counts)))
        # One feed GET, one job (3 requests) per VIOS, one POST per VIOS.
        self.assertEqual(2, attach_counts['POST'])
        self.assertLessEqual(attach_counts['total'], 9)
        self.assertEqual(2, detach_counts['POST'])
        self.assertLessEqual(detach_counts['total'], 9)

    def test_extend_rescans(self):
        inst = self.make_vm(1)
        info = self.attach(inst, 'vol-a', 1)
        before = self.pv_maps(inst)
        self.sim.clear_request_log()
        self.drv.extend_volume(None, info, inst, 2 * 1024 ** 3)
        puts = [r['path'] for r in self.sim.request_log()
                if r['method'] == 'PUT']
        self.assertEqual(2, len([p for p in puts if 'LUARecovery' in p]))
        self.assertEqual(0, len([r for r in self.sim.request_log()
                                 if r['method'] == 'POST']))
        self.assertEqual(before, self.pv_maps(inst))

    def test_min_vios_connections(self):
        inst = self.make_vm(1)
        vios1 = sorted(self.sim.vios_uuids)[0]
        self.sim.inject_fault(method='PUT',
                              path='%s/do/LUARecovery' % vios1,
                              job_failure=True, times=10)
        # One VIOS is enough by default.
        self.attach(inst, 'vol-a', 1)
        self.assertEqual([v for v in self.sim.vios_uuids if v != vios1],
                         list(self.pv_maps(inst)))
        # Two required: fails, and the hdisk found on the other VIOS goes.
        self.flags(vscsi_vios_connections_required=2, group='powervm')
        info = _conn_info('vol-b', 2)
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None, info, inst,
                                '/dev/sdc')
        self.assertIn('vol-b', str(exc))
        self.assertEqual(1, len(list(self.pv_maps(inst).values())[0]))

    def test_post_failure_leaves_nothing(self):
        inst = self.make_vm(1)
        vios2 = sorted(self.sim.vios_uuids)[1]
        self.sim.inject_fault(method='POST', path='VirtualIOServer/%s' % vios2,
                              status=500)
        info = _conn_info('vol-a', 1)
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.drv.attach_volume, None, info, inst,
                          '/dev/sdb')
        self.assertEqual({}, self.pv_maps(inst))
        udid = info['data'].get(vscsi.UDID_KEY)
        self.assertTrue(udid)
        self.assertEqual({}, self.hdisks(udid))

    def test_failed_detach_leaves_volume_attached(self):
        inst = self.make_vm(1)
        info = self.attach(inst, 'vol-a', 1)
        before = self.pv_maps(inst)
        self.sim.inject_fault(method='PUT', path='do/RemoveDevice',
                              job_failure=True)
        self.assertRaises(nova_exc.VolumeDetachFailed,
                          self.drv.detach_volume, None, info, inst,
                          '/dev/sdb')
        self.assertEqual(sorted(before), sorted(self.pv_maps(inst)))
        # A retry completes it.
        self.drv.detach_volume(None, info, inst, '/dev/sdb')
        self.assertEqual({}, self.pv_maps(inst))
        self.assertEqual({}, self.hdisks(info['data'][vscsi.UDID_KEY]))

    def test_16_parallel_attach_detach(self):
        insts = [self.make_vm(n) for n in range(1, 17)]
        infos = {}

        def attach(inst):
            infos[inst.uuid] = self.attach(inst, 'vol-%s' % inst.id,
                                           inst.id)

        def detach(inst):
            self.drv.detach_volume(None, infos[inst.uuid], inst, '/dev/sdb')

        self.sim.clear_request_log()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(attach, insts))
        conflicts = len([r for r in self.sim.request_log()
                         if r['status'] == 412])
        for inst in insts:
            self.assertEqual(2, len(self.pv_maps(inst)), inst.uuid)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(detach, insts))
        for inst in insts:
            self.assertEqual({}, self.pv_maps(inst))
        self.addDetail('etag_conflicts', content.text_content(
            str(conflicts)))

    def test_unreachable_targets(self):
        inst = self.make_vm(1)
        before = self.sim.inventory()
        for wwpn in TARGETS:
            self.sim.set_fc_target_reachable(wwpn=wwpn, reachable=False)
        exc = self.assertRaises(nova_exc.VolumeAttachFailed, self.attach,
                                inst, 'vol-a', 1)
        self.assertIn('found on 0 Virtual I/O Server(s)', str(exc))
        self.assertEqual(before, self.sim.inventory())
        # One path left is enough (LUA status "some paths").
        self.sim.set_fc_target_reachable(wwpn=TARGETS[1], reachable=True)
        self.attach(inst, 'vol-a', 1)
        self.assertEqual(2, len(self.pv_maps(inst)))

    def test_detach_post_failure_keeps_volume_attached(self):
        inst = self.make_vm(1)
        info = self.attach(inst, 'vol-a', 1)
        before = self.pv_maps(inst)
        vios2 = sorted(self.sim.vios_uuids)[1]
        self.sim.inject_fault(method='POST', path='VirtualIOServer/%s' % vios2,
                              status=500)
        self.assertRaises(nova_exc.VolumeDetachFailed,
                          self.drv.detach_volume, None, info, inst,
                          '/dev/sdb')
        self.assertEqual(before, self.pv_maps(inst))
        self.assertEqual(sorted(before), sorted(self.hdisks(
            info['data'][vscsi.UDID_KEY])))


class TestNPIV(VolumeSimTestBase):

    def setUp(self):
        super().setUp()
        self.flags(fc_attach_strategy='npiv', group='powervm')
        npiv.fabric_names()
        self.drv = pvm_driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = self.adapter
        self.drv.host_uuid = self.host_uuid

    def test_connector_attach_detach(self):
        inst = self.make_vm(1)
        conn = self.drv.get_volume_connector(inst)
        self.assertEqual(2, len(conn['wwpns']))
        # The same WWPNs on the next call (no new generation).
        self.assertEqual(conn, self.drv.get_volume_connector(inst))
        info = _conn_info('vol-a', 1)
        self.drv.attach_volume(None, info, inst, '/dev/sdb')
        self.assertEqual([frozenset(w.upper() for w in conn['wwpns'])],
                         self.vfc_wwpns(inst))
        self.useFixture(fixtures.MockPatchObject(
            driver_volume, 'last_fc_volume', return_value=True))
        self.drv.detach_volume(None, info, inst, '/dev/sdb')
        self.assertEqual([], self.vfc_wwpns(inst))
        # Re-attach (reboot/rebuild path) reuses the same WWPNs.
        self.assertEqual(conn, self.drv.get_volume_connector(inst))

    def test_16_parallel_attach_detach(self):
        self.useFixture(fixtures.MockPatchObject(
            driver_volume, 'last_fc_volume', return_value=True))
        insts = [self.make_vm(n) for n in range(1, 17)]
        infos = {i.uuid: _conn_info('vol-%d' % i.id, i.id) for i in insts}

        def attach(inst):
            self.drv.get_volume_connector(inst)
            self.drv.attach_volume(None, infos[inst.uuid], inst, '/dev/sdb')

        def detach(inst):
            self.drv.detach_volume(None, infos[inst.uuid], inst, '/dev/sdb')

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(attach, insts))
        wwpns = set()
        for inst in insts:
            pairs = self.vfc_wwpns(inst)
            self.assertEqual(1, len(pairs), inst.uuid)
            wwpns |= pairs[0]
        # Every instance got its own WWPNs.
        self.assertEqual(32, len(wwpns))
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(detach, insts))
        for inst in insts:
            self.assertEqual([], self.vfc_wwpns(inst))

    def test_post_failure_leaves_nothing(self):
        inst = self.make_vm(1)
        self.drv.get_volume_connector(inst)
        self.sim.inject_fault(method='POST', path='VirtualIOServer/')
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.drv.attach_volume, None,
                          _conn_info('vol-a', 1), inst, '/dev/sdb')
        self.assertEqual([], self.vfc_wwpns(inst))


class TestVscsiFaultMatrix(VolumeSimTestBase):
    """An HTTP 500 or a job failure at every request of attach/detach."""

    def setUp(self):
        super().setUp()
        self.drv = pvm_driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = self.adapter
        self.drv.host_uuid = self.host_uuid

    def fresh(self):
        self.sim.reset()
        vscsi._PFC_CACHE.clear()
        inst = self.make_vm(1)
        return inst, self.sim.inventory()

    def attached_everywhere(self, inst, info):
        maps = self.pv_maps(inst)
        hdisks = self.hdisks(info['data'][vscsi.UDID_KEY])
        return (sorted(maps) == sorted(self.sim.vios_uuids) and
                all(maps[v] == [hdisks[v]] for v in maps))

    def run_matrix(self, inject, detach_phase):
        fired = 0
        for n in range(1, 20):
            inst, before = self.fresh()
            info = _conn_info('vol-a', 1)
            if detach_phase:
                self.drv.attach_volume(None, info, inst, '/dev/sdb')
            inject(n)
            try:
                if detach_phase:
                    self.drv.detach_volume(None, info, inst, '/dev/sdb')
                else:
                    self.drv.attach_volume(None, info, inst, '/dev/sdb')
                failed = False
            except (nova_exc.VolumeAttachFailed,
                    nova_exc.VolumeDetachFailed):
                failed = True
            if self.sim.faults.list():
                # Fewer requests than n: the matrix is complete.
                break
            fired += 1
            if failed and not detach_phase:
                self.assertEqual(before, self.sim.inventory(),
                                 'attach failed at request %d' % n)
                continue
            if failed:
                self.assertTrue(self.attached_everywhere(inst, info),
                                'detach failed at request %d' % n)
            elif not detach_phase:
                # Attached (maybe through one VIOS only): a detach without
                # faults must leave nothing behind.
                self.assertTrue(self.pv_maps(inst))
            self.sim.clear_faults()
            self.drv.detach_volume(None, info, inst, '/dev/sdb')
            self.assertEqual(before, self.sim.inventory(),
                             'after fault at request %d' % n)
        return fired

    def test_attach_http500_at_every_request(self):
        fired = self.run_matrix(
            lambda n: self.sim.inject_fault(nth=n, status=500), False)
        self.assertGreaterEqual(fired, 9)

    def test_attach_job_failure_at_every_job(self):
        fired = self.run_matrix(
            lambda n: self.sim.inject_fault(method='PUT', path='/do/',
                                            nth=n, job_failure=True), False)
        self.assertEqual(2, fired)

    def test_detach_http500_at_every_request(self):
        fired = self.run_matrix(
            lambda n: self.sim.inject_fault(nth=n, status=500), True)
        self.assertGreaterEqual(fired, 9)

    def test_detach_job_failure_at_every_job(self):
        fired = self.run_matrix(
            lambda n: self.sim.inject_fault(method='PUT', path='/do/',
                                            nth=n, job_failure=True), True)
        self.assertEqual(2, fired)
