"""Simulator shared storage pool through pypowervm."""
import io
import os
import subprocess
import sys
import threading
from unittest import mock

from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import cluster_ssp as tsk_cs
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import cluster as pvm_clust
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import control
from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests import base as test_base
from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_storage


class TestSSP(base.SimTestCase):

    def setUp(self):
        super(TestSSP, self).setUp()
        self.cluster = pvm_clust.Cluster.get(self.adpt)[0]
        self.tier = pvm_stg.Tier.search(
            self.adpt, parent_type=pvm_stg.SSP,
            parent_uuid=self.cluster.ssp_uuid, is_default=True,
            one_result=True)

    def ssp(self):
        return pvm_stg.SSP.get(self.adpt, uuid=self.cluster.ssp_uuid)

    def upload_image(self, data, name='image_1'):
        return tsk_cs.get_or_upload_image_lu(
            self.tier, name, self.sim.vios_uuids[0], io.BytesIO(data),
            len(data), upload_type=tsk_stg.UploadType.IO_STREAM)

    def test_seed(self):
        self.assertEqual('simcluster', self.cluster.name)
        self.assertEqual(sorted(self.sim.vios_uuids),
                         sorted(n.vios_uuid for n in self.cluster.nodes))
        self.assertEqual('SYSTEM', self.tier.name)
        ssp = self.ssp()
        self.assertEqual(1000, ssp.capacity)
        self.assertEqual(1000, ssp.free_space)

    def test_image_clone_map_delete(self):
        before = self.sim.inventory()
        data = b'\x01\x02pvm' * 50000
        img = self.upload_image(data)
        self.assertEqual(pvm_stg.LUType.IMAGE, img.lu_type)
        # The marker LU is gone, the upload metadata too.
        self.assertEqual(['image_1'], [lu.name for lu in self.ssp()
                                       .logical_units])
        self.assertEqual({}, self.sim.inventory()['files'])
        free = self.ssp().free_space
        _tier, clone = tsk_stg.crt_lu(self.tier, 'boot_1', 5,
                                      typ=pvm_stg.LUType.DISK, clone=img)
        self.assertEqual(img.udid[2:], clone.cloned_from_udid[2:])
        self.assertEqual(free, self.ssp().free_space)   # thin clone
        # The clone reads back its whole 5 GB: the image, then zeros.
        self.assertEqual((data, 5 << 30, True), test_storage.read_disk(
            self.sim.disk_path(name='boot_1'), len(data)))
        # Mapped through a VIOS: cannot be deleted.
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=self.sim.vios_uuids[0],
                                   xag=['ViosSCSIMapping'])
        ref = pvm_stg.LU.bld_ref(self.adpt, clone.name, clone.udid)
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, self.sim.mgmt_uuid, ref))
        vios_w = vios_w.update()
        self.assertRaises(pvm_exc.HttpError, clone.delete)
        # The image has a clone: cannot be deleted either.
        self.assertRaises(pvm_exc.HttpError, img.delete)
        tsk_map.remove_maps(vios_w, self.sim.mgmt_uuid)
        vios_w.update()
        # Removing the last clone removes the unused image too.
        tsk_stg.rm_tier_storage([clone], tier=self.tier)
        self.assertEqual(before, self.sim.inventory())

    def test_rm_ssp_storage(self):
        img = self.upload_image(b'abc')
        _tier, clone = tsk_stg.crt_lu(self.tier, 'boot_2', 1,
                                      typ=pvm_stg.LUType.DISK, clone=img)
        ssp = tsk_stg.rm_ssp_storage(self.ssp(), [clone])
        self.assertEqual([], [lu.name for lu in ssp.logical_units])
        self.assertEqual([], self.sim.inventory()['ssp']['simssp'][
            'logical_units'])

    def test_bad_lus_rejected(self):
        before = self.sim.inventory()
        for name, size, kw in (('big', 5000, {}), ('', 1, {}),
                               ('x' * 80, 1, {})):
            self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_lu, self.tier,
                              name, size, **kw)
        fake = pvm_stg.LU.bld_ref(self.adpt, 'nope', '29' + 'ab' * 32)
        fake._capacity(1)
        self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_lu, self.tier,
                          'clone', 1, clone=fake)
        self.assertEqual(before, self.sim.inventory())

    def test_capacity(self):
        tsk_stg.crt_lu(self.tier, 'thick', 100, thin=False,
                       typ=pvm_stg.LUType.DISK)
        self.assertEqual(900, self.ssp().free_space)


class TestTwoHosts(test_base.TestCase):
    """Two managed systems (own endpoints) sharing one SSP cluster."""

    def setUp(self):
        super(TestTwoHosts, self).setUp()
        self.fix = self.useFixture(sim_fixture.SimulatorFixture(
            hosts=2, event_hold_s=0.5, power_delay_s=0.05))
        self.adpts = []
        for sim in self.fix.sims:
            sess = base.session(sim)
            self.addCleanup(sess._logoff)
            self.adpts.append(pvm_adpt.Adapter(sess))

    def tier(self, adpt):
        cluster = pvm_clust.Cluster.get(adpt)[0]
        return pvm_stg.Tier.search(
            adpt, parent_type=pvm_stg.SSP, parent_uuid=cluster.ssp_uuid,
            is_default=True, one_result=True)

    def test_each_endpoint_shows_its_own_host(self):
        a, b = self.fix.sims
        systems = [[s.uuid for s in pvm_ms.System.get(ad)]
                   for ad in self.adpts]
        self.assertEqual([[a.host_uuid], [b.host_uuid]], systems)
        self.assertNotEqual(a.host_uuid, b.host_uuid)
        vioses = [sorted(v.uuid for v in pvm_vios.VIOS.get(ad))
                  for ad in self.adpts]
        self.assertEqual([sorted(a.vios_uuids), sorted(b.vios_uuids)],
                         vioses)
        self.assertEqual(set(), set(vioses[0]) & set(vioses[1]))
        serials = {pvm_ms.System.get(ad)[0].mtms.serial for ad in self.adpts}
        self.assertEqual(2, len(serials))

    def test_one_cluster_with_both_hosts_nodes(self):
        a, b = self.fix.sims
        clusters = [pvm_clust.Cluster.get(ad) for ad in self.adpts]
        self.assertEqual([1, 1], [len(c) for c in clusters])
        ca, cb = clusters[0][0], clusters[1][0]
        self.assertEqual((ca.uuid, ca.ssp_uuid), (cb.uuid, cb.ssp_uuid))
        want = sorted(a.vios_uuids + b.vios_uuids)
        for cl in (ca, cb):
            self.assertEqual(want, sorted(n.vios_uuid for n in cl.nodes))
        # A node's VIOS link names its own host's ManagedSystem.
        by_host = {}
        for n in ca.nodes:
            by_host.setdefault(n.vios_uri.split('/ManagedSystem/')[1]
                               .split('/')[0], []).append(n.vios_uuid)
        self.assertEqual({a.host_uuid: sorted(a.vios_uuids),
                          b.host_uuid: sorted(b.vios_uuids)},
                         {k: sorted(v) for k, v in by_host.items()})
        self.assertEqual(4, len({n.hostname for n in ca.nodes}))

    def test_reset_keeps_every_hosts_nodes(self):
        a, b = self.fix.sims
        a.reset()
        want = sorted(a.vios_uuids + b.vios_uuids)
        for ad in self.adpts:
            self.assertEqual(want, sorted(
                n.vios_uuid for n in pvm_clust.Cluster.get(ad)[0].nodes))

    def test_lu_created_on_one_host_is_seen_on_the_other(self):
        a, b = self.fix.sims
        ad_a, ad_b = self.adpts
        data = b'two-hosts' * 1000
        img = tsk_cs.get_or_upload_image_lu(
            self.tier(ad_a), 'image_x', a.vios_uuids[0], io.BytesIO(data),
            len(data), upload_type=tsk_stg.UploadType.IO_STREAM)
        # Host B clones host A's image and reads its bytes.
        tier_b = self.tier(ad_b)
        found = [lu for lu in pvm_stg.LUEnt.get(ad_b, parent=tier_b)
                 if lu.name == 'image_x']
        self.assertEqual([img.udid], [lu.udid for lu in found])
        _t, clone = tsk_stg.crt_lu(tier_b, 'boot_b', 1,
                                   typ=pvm_stg.LUType.DISK, clone=found[0])
        self.assertEqual((data, 1 << 30, True), test_storage.read_disk(
            b.disk_path(name='boot_b'), len(data)))
        self.assertEqual(a.disk_path(name='boot_b'),
                         b.disk_path(name='boot_b'))
        ssp_a = pvm_stg.SSP.get(
            ad_a, uuid=pvm_clust.Cluster.get(ad_a)[0].ssp_uuid)
        self.assertEqual(['boot_b', 'image_x'],
                         sorted(lu.name for lu in ssp_a.logical_units))
        # Host A cannot delete the image host B cloned.
        lu_a = [lu for lu in pvm_stg.LUEnt.get(ad_a, parent=self.tier(ad_a))
                if lu.name == 'image_x'][0]
        self.assertRaises(pvm_exc.HttpError, lu_a.delete)
        # Mapped on host B's VIOS: host A cannot delete the clone either.
        vios_w = pvm_vios.VIOS.get(ad_b, uuid=b.vios_uuids[0],
                                   xag=['ViosSCSIMapping'])
        ref = pvm_stg.LU.bld_ref(ad_b, clone.name, clone.udid)
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, b.mgmt_uuid, ref))
        vios_w.update()
        clone_a = [lu for lu in pvm_stg.LUEnt.get(ad_a,
                                                  parent=self.tier(ad_a))
                   if lu.name == 'boot_b'][0]
        self.assertRaises(pvm_exc.HttpError, clone_a.delete)
        self.assertEqual(a.inventory()['ssp'], b.inventory()['ssp'])

    def test_concurrent_changes_through_both_hosts(self):
        tiers = [self.tier(ad) for ad in self.adpts]
        errors = []

        def create(i):
            try:
                tsk_stg.crt_lu(tiers[i % 2], 'lu_%d' % i, 1)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
        threads = [threading.Thread(target=create, args=(i,))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([], errors)
        seen = [sorted((lu.name, lu.udid) for lu in
                       pvm_stg.LUEnt.get(ad, parent=self.tier(ad)))
                for ad in self.adpts]
        self.assertEqual(8, len(seen[0]))
        self.assertEqual(seen[0], seen[1])
        ssps = [pvm_stg.SSP.get(ad, uuid=pvm_clust.Cluster.get(ad)[0]
                                .ssp_uuid) for ad in self.adpts]
        self.assertEqual([992.0, 992.0], [s.free_space for s in ssps])

    def test_cluster_membership_change_seen_by_every_host(self):
        a, b = self.fix.sims
        gone = b.vios_uuids[0]
        b.set_cluster_member(vios_uuid=gone, member=False)
        for ad in self.adpts:
            nodes = [n.vios_uuid for n in pvm_clust.Cluster.get(ad)[0].nodes]
            self.assertEqual(3, len(nodes))
            self.assertNotIn(gone, nodes)
        b.set_cluster_member(vios_uuid=gone, member=True)
        nodes = [n.vios_uuid for n in pvm_clust.Cluster.get(
            self.adpts[0])[0].nodes]
        self.assertEqual(sorted(a.vios_uuids + b.vios_uuids), sorted(nodes))
        # Only a VIOS of the host itself.
        self.assertRaises(KeyError, a.set_cluster_member, vios_uuid=gone)

    def test_one_fc_fabric(self):
        """Own port WWPNs per host; one LUN has one UDID from both."""
        targets = ['500507680B215660']
        found = []
        for sim, ad in zip(self.fix.sims, self.adpts):
            vios_w = pvm_vios.VIOS.get(ad, uuid=sim.vios_uuids[0],
                                       xag=['ViosStorage'])
            found.append(set(vios_w.get_pfc_wwpns()))
            itls = tsk_hdisk.build_itls(vios_w.get_pfc_wwpns(), targets, 7)
            status, dev, udid = tsk_hdisk.lua_recovery(ad, vios_w.uuid, itls)
            found.append(udid)
            # Another LUN seen first from host B only: another UDID.
            if sim is self.fix.sims[1]:
                other = tsk_hdisk.lua_recovery(ad, vios_w.uuid,
                                               tsk_hdisk.build_itls(
                                                   vios_w.get_pfc_wwpns(),
                                                   targets, 8))[2]
        self.assertEqual(set(), found[0] & found[2])
        self.assertEqual(found[1], found[3])
        self.assertNotEqual(found[1], other)
        # Zoning is per host: a target unreachable from B only.
        self.fix.sims[1].set_fc_target_reachable(targets[0], False)
        vios_w = pvm_vios.VIOS.get(self.adpts[1],
                                   uuid=self.fix.sims[1].vios_uuids[0],
                                   xag=['ViosStorage'])
        self.assertIsNone(tsk_hdisk.lua_recovery(
            self.adpts[1], vios_w.uuid, tsk_hdisk.build_itls(
                vios_w.get_pfc_wwpns(), targets, 9))[2])

    def test_reset_resets_every_host(self):
        a, b = self.fix.sims
        before = [a.inventory(), b.inventory()]
        tsk_stg.crt_lu(self.tier(self.adpts[1]), 'scratch', 1)
        self.assertNotEqual(before[0], a.inventory())
        a.reset()
        self.assertEqual(before, [a.inventory(), b.inventory()])
        # Both hosts' VIOSes are cluster nodes again, seen from both.
        want = sorted(a.vios_uuids + b.vios_uuids)
        for ad in self.adpts:
            self.assertEqual(want, sorted(
                n.vios_uuid for n in pvm_clust.Cluster.get(ad)[0].nodes))


class TestCliHosts(test_base.TestCase):

    def test_hosts_2_serves_two_hosts_of_one_cluster(self):
        proc = subprocess.Popen(
            [sys.executable, '-c', 'from nova_powervm.simulator import cli;'
             'cli.main()', '--port', '0', '--hosts', '2'],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.dirname(os.path.abspath(__file__))))))
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        lines = [proc.stdout.readline() for _ in range(2)]
        urls = [line.split()[3] for line in lines]
        hosts = [line.split()[5] for line in lines]
        self.assertEqual(2, len(set(urls)), lines)
        self.assertEqual(2, len(set(hosts)), lines)
        nodes = []
        for url in urls:
            sim = mock.Mock(host='127.0.0.1', port=int(url.rsplit(':', 1)[1]),
                            username=control.DEFAULT_USERNAME,
                            password=control.DEFAULT_PASSWORD)
            sess = base.session(sim)
            self.addCleanup(sess._logoff)
            cl = pvm_clust.Cluster.get(pvm_adpt.Adapter(sess))[0]
            nodes.append(sorted(n.vios_uuid for n in cl.nodes))
        self.assertEqual(4, len(nodes[0]))
        self.assertEqual(nodes[0], nodes[1])
