"""Shared Storage Pool disks against the simulator, nova in the loop.

Servers boot from one image LU (uploaded once) as linked clones; deleting a
server removes its LU; the image LU stays until nova's image cache manager
finds it unused.
"""
import threading
import time
from unittest import mock

import fixtures
from nova import context as nova_context
from nova import objects
from pypowervm.tasks import cluster_ssp as tsk_cs
from pypowervm.tasks import storage as tsk_stg

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional import base as base_fn
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional import test_snapshot
from nova_powervm.virt.powervm.disk import ssp
from nova_powervm.virt.powervm import session

IMAGE_TYPE = 'VirtualIO_Image'
DISK_TYPE = 'VirtualIO_Disk'


class TestSSPDisks(test_snapshot._DiskDriverMixin, base.PowerVMNovaTestCase):
    disk_driver = 'ssp'

    def _lus(self):
        """{name: (type, udid, cloned_from)} of the simulator's LUs."""
        return {xu.text(lu, 'UnitName'): (xu.text(lu, 'LogicalUnitType'),
                                          xu.text(lu, 'UniqueDeviceID'),
                                          xu.text(lu, 'ClonedFrom'))
                for lu in self.sim.objects('LogicalUnit')}

    def _image_lus(self):
        return {n: v for n, v in self._lus().items() if v[0] == IMAGE_TYPE}

    def _disk_lus(self):
        return {n: v for n, v in self._lus().items() if v[0] == DISK_TYPE}

    def _uploads(self):
        return [r for r in self.sim.request_log()
                if r['method'] == 'PUT' and '/File/contents' in r['path']]

    def _run_image_cache_manager(self):
        self.flags(remove_unused_base_images=True, group='image_cache')
        self.compute.manager._run_image_cache_manager_pass(
            nova_context.get_admin_context())

    def test_two_servers_share_one_image_lu(self):
        self.sim.clear_request_log()
        first = self._boot()
        second = self._boot()
        images = self._image_lus()
        self.assertEqual(1, len(images), self._lus())
        (img_name, (_t, img_udid, _c)), = images.items()
        disks = self._disk_lus()
        self.assertEqual(2, len(disks), self._lus())
        # Both boot disks are linked clones of the one image LU.
        for _typ, _udid, cloned_from in disks.values():
            self.assertEqual(img_udid[2:], (cloned_from or '')[2:])
        # Uploaded once, downloaded from the image service once.
        self.assertEqual(1, len(self._uploads()))
        self.assertEqual([self.image['id']], self.glance.downloads)
        for server in (first, second):
            mapped = [m for m in self._scsi_mappings(server)
                      if m[1] == 'LogicalUnit']
            self.assertTrue(mapped)
            self.assertTrue(all(m[2] in disks for m in mapped))
            # Mapped through every VIOS of the cluster on this host.
            self.assertEqual(
                len(self.compute.driver.disk_dvr.vios_uuids), len(mapped))

        self._delete(first)
        self.assertEqual(1, len(self._disk_lus()))
        self.assertEqual(images, self._image_lus())
        # Still in use by the second server: the cache manager keeps it.
        self._run_image_cache_manager()
        self.assertEqual(images, self._image_lus())

        self._delete(second)
        self.assertEqual({}, self._disk_lus())
        self.assertEqual(images, self._image_lus())
        self._run_image_cache_manager()
        self.assertEqual({}, self._lus())

    def test_concurrent_boots_upload_once(self):
        self.sim.clear_request_log()
        body = self._build_server(image_uuid=self.image['id'],
                                  flavor_id=self.flavor, networks='none')
        body.update(min_count=3, max_count=3)
        self.api.post_server({'server': body})

        def all_active():
            servers = self.api.get_servers()
            active = [s for s in servers if s['status'] == 'ACTIVE']
            return len(active) == 3 and active
        # nova builds the three in parallel: one upload, three clones.
        self._wait_for(all_active, 'three ACTIVE servers')
        self.assertEqual(1, len(self._uploads()))
        self.assertEqual(1, len(self._image_lus()))
        self.assertEqual(3, len(self._disk_lus()))

    def test_spawn_after_cache_cleanup_uploads_again(self):
        server = self._boot()
        self._delete(server)
        self._run_image_cache_manager()
        self.assertEqual({}, self._lus())
        self.sim.clear_request_log()
        server = self._boot()
        self.assertEqual(1, len(self._uploads()))
        self.assertEqual(1, len(self._image_lus()))
        self._delete(server)

    def test_failed_spawn_removes_its_lu(self):
        # The VIOS mapping update fails: the clone must not leak.
        self.sim.inject_fault(method='POST', path='VirtualIOServer',
                              status=500, times=10)
        self._boot(expected='ERROR')
        self.sim.clear_faults()
        self.assertEqual({}, self._disk_lus())


class TestTwoHostsOneCluster(base.test.NoDBTestCase):
    """Two hosts (own endpoints) in one SSP cluster, one driver per host.

    The cross-host image cache protocol of ``disk/ssp.py``.
    """

    def setUp(self):
        super().setUp()
        self.fx = self.useFixture(sim_fixture.SimulatorFixture(
            hosts=2, power_delay_s=0.01, event_hold_s=0.2))
        self.glance = self.useFixture(pvm_fixtures.StreamingGlanceFixture(
            self))
        img = self.glance.add_image(300000, name='shared-image')
        self.image_meta = objects.ImageMeta.from_dict(img)
        self.drvs = []
        for index, sim in enumerate(self.fx.sims):
            self.flags(group='powervm', disk_driver='ssp',
                       **self.fx.flags_for_conf(index))
            adapter = session.build_adapter()
            self.addCleanup(adapter.session._logoff)
            self.drvs.append(ssp.SSPDiskAdapter(adapter, sim.host_uuid))
        self.flags(remove_unused_base_images=True, group='image_cache')

    def _lus(self, sim=None):
        """{name: (type, cloned_from)} of the cluster's LUs."""
        sim = sim or self.fx.sims[0]
        return {xu.text(lu, 'UnitName'): (xu.text(lu, 'LogicalUnitType'),
                                          xu.text(lu, 'ClonedFrom'))
                for lu in sim.objects('LogicalUnit')}

    def _spawn(self, drv, n):
        inst = base_fn.bare_instance(
            '00000000-0000-4000-8000-%012d' % n, n, 'inst-%d' % n,
            image_ref=self.image_meta.id)
        return drv.create_disk_from_image(None, inst, self.image_meta)

    def test_each_driver_uses_only_its_hosts_vioses(self):
        for sim, drv in zip(self.fx.sims, self.drvs):
            self.assertEqual(sorted(sim.vios_uuids), sorted(drv.vios_uuids))

    def test_image_kept_while_another_host_has_clones(self):
        drv_a, drv_b = self.drvs
        lu_a = self._spawn(drv_a, 1)
        uploads = [r for r in self.fx.sims[1].request_log()
                   if '/File/contents' in r['path']]
        lu_b = self._spawn(drv_b, 2)
        # Host B cloned host A's image: no upload through host B.
        self.assertEqual(uploads, [r for r in self.fx.sims[1].request_log()
                                   if '/File/contents' in r['path']])
        self.assertEqual([self.image_meta.id], self.glance.downloads)
        drv_a.delete_disks([lu_a])
        drv_a.manage_image_cache(None, [])
        images = [n for n, (t, _c) in self._lus().items() if t == IMAGE_TYPE]
        self.assertEqual([drv_a.image_lu_name(self.image_meta)], images)
        drv_b.delete_disks([lu_b])
        drv_a.manage_image_cache(None, [])
        self.assertEqual({}, self._lus())
        self.assertEqual({}, self._lus(self.fx.sims[1]))

    def test_in_flight_clone_on_another_host_keeps_the_image(self):
        drv_a, drv_b = self.drvs
        drv_a.delete_disks([self._spawn(drv_a, 1)])
        luname = drv_a.image_lu_name(self.image_meta)
        real_crt_lu = tsk_stg.crt_lu
        seen = []

        def crt_lu(tier, name, *args, **kwargs):
            if kwargs.get('clone') is not None:
                # Host B found the image and is about to clone it: host
                # A's cache manager runs now.
                drv_a.manage_image_cache(None, [])
                seen.append(sorted(self._lus()))
            return real_crt_lu(tier, name, *args, **kwargs)
        with mock.patch.object(tsk_stg, 'crt_lu', side_effect=crt_lu):
            lu_b = self._spawn(drv_b, 2)
        # The image was kept (B's clone marker), and B's clone exists.
        self.assertIn(luname, seen[0])
        self.assertEqual(IMAGE_TYPE, self._lus()[luname][0])
        self.assertEqual(DISK_TYPE, self._lus()[lu_b.name][0])
        # No marker is left on either side.
        self.assertEqual(sorted([luname, lu_b.name]), sorted(self._lus()))

    def test_spawn_waits_for_another_hosts_image_removal(self):
        drv_a, drv_b = self.drvs
        drv_a.delete_disks([self._spawn(drv_a, 1)])
        real_rm = tsk_stg.rm_tier_storage
        order = []

        def rm_tier_storage(*args, **kwargs):
            # Host A decided to remove the image; host B spawns now.
            order.append('remove')
            thread = threading.Thread(
                target=lambda: order.append(self._spawn(drv_b, 2).name))
            thread.start()
            time.sleep(0.5)
            real_rm(*args, **kwargs)
            order.append('removed')
            self.addCleanup(thread.join, 120)
            self.thread = thread
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.disk.ssp._DELETE_POLL_SECONDS', 0.2))
        with mock.patch.object(tsk_stg, 'rm_tier_storage',
                               side_effect=rm_tier_storage):
            drv_a.manage_image_cache(None, [])
        self.thread.join(120)
        self.assertFalse(self.thread.is_alive(), "host B's spawn hung")
        # B waited for the removal, then uploaded the image again.
        self.assertEqual(['remove', 'removed'], order[:2])
        self.assertEqual(3, len(order))
        lus = self._lus()
        self.assertEqual(DISK_TYPE, lus[order[2]][0])
        self.assertEqual(2, len(self.glance.downloads))

    def test_membership_change_seen_without_restart(self):
        drv_a = self.drvs[0]
        sim_a = self.fx.sims[0]
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.disk.ssp._NODES_CACHE_SECONDS', 0))
        gone = sim_a.vios_uuids[0]
        sim_a.set_cluster_member(vios_uuid=gone, member=False)
        self.assertEqual(sim_a.vios_uuids[1:], drv_a.vios_uuids)
        sim_a.set_cluster_member(vios_uuid=gone, member=True)
        self.assertEqual(sorted(sim_a.vios_uuids), sorted(drv_a.vios_uuids))

    def test_upload_goes_through_an_active_vios(self):
        drv_a = self.drvs[0]
        sim_a = self.fx.sims[0]
        first = drv_a.vios_uuids[0]
        sim_a.set_partition_state(first, 'not activated')
        with mock.patch.object(tsk_cs, 'get_or_upload_image_lu',
                               wraps=tsk_cs.get_or_upload_image_lu) as up:
            self._spawn(drv_a, 1)
        self.assertEqual(drv_a.vios_uuids[1], up.call_args[0][2])
