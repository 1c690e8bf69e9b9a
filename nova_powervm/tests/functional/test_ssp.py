"""Shared Storage Pool disks against the simulator, nova in the loop.

Servers boot from one image LU (uploaded once) as linked clones; deleting a
server removes its LU; the image LU stays until nova's image cache manager
finds it unused.
"""
from nova import context as nova_context

from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional import test_snapshot

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
