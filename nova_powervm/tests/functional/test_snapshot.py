"""Snapshot against the simulator, nova in the loop, for both disk drivers.

A freshly booted server is snapshotted through the compute API; the image
the driver streamed must hold exactly the bytes of the instance's disk,
which are the bytes of the image it booted from (checksums compared).  A
failure injected mid-snapshot must leave no mapping to the management
partition behind.
"""
from unittest import mock

import fixtures

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests.functional import base as fm_base
from nova_powervm.tests.functional.nova import base


class _DiskDriverMixin(object):
    """Run the nova-in-the-loop base with ``disk_driver`` / extra flags."""

    disk_driver = 'localdisk'
    extra_flags = {}

    def setUp(self):
        orig = sim_fixture.SimulatorFixture.flags_for_conf
        flags = dict(self.extra_flags, disk_driver=self.disk_driver)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.simulator.fixture.SimulatorFixture.flags_for_conf',
            lambda fx: dict(orig(fx), **flags)))
        super().setUp()


class SnapshotTestMixin(object):

    flavor_disk_gb = 1   # the base class's flavor
    # The snapshot's VIOS read: (slashes in the path, status).  One VIOS the
    # boot kept: a conditional GET of it (304); more: one GET of the feed.
    vios_read = (5, 304)

    def _mgmt_mappings(self):
        """(VIOS, storage name) of every vSCSI mapping to the mgmt LPAR."""
        from nova_powervm.simulator import xmlutil as xu
        mgmt = self.sim.get_object('LogicalPartition', self.sim.mgmt_uuid)
        if mgmt is None:
            mgmt = self.sim.get_object('VirtualIOServer', self.sim.mgmt_uuid)
        found = []
        for vios_name, stg in self._vscsi_mappings_to(
                xu.text(mgmt, 'PartitionID')):
            name = None
            if stg is not None:
                name = xu.text(stg, 'DiskName') or xu.text(stg, 'UnitName')
            found.append((vios_name, name))
        return found

    def _boot_disk_name(self, server):
        disks = [m for m in self._scsi_mappings(server)
                 if m[1] in ('VirtualDisk', 'LogicalUnit')]
        self.assertEqual(1, len({d[2] for d in disks}), disks)
        return disks[0][2]

    def _create_image(self, server, name='snap'):
        resp = self.api.post_server_action(
            server['id'], {'createImage': {'name': name}})
        image_id = resp['image_id']
        self._wait_for_status(server, 'ACTIVE')
        return image_id

    def _rest_log(self):
        return [r for r in self.sim.request_log()
                if '/Event' not in r['path']]

    def _vios_log(self):
        """VIOS requests, not the resource tracker's volume group reads.

        (Streaming the whole disk takes long enough for nova's periodic
        resource update to read the volume group meanwhile.)
        """
        return [r for r in self._rest_log()
                if '/VirtualIOServer' in r['path'] and
                '/VolumeGroup' not in r['path']]

    def test_snapshot_matches_disk_and_image(self):
        server = self._boot()
        disk = self._boot_disk_name(server)
        # Sparse-aware (the 1 GB disk holds a 256 KiB image): equal
        # fingerprints are equal bytes.
        disk_size, disk_fp = fm_base.content_fingerprint(
            self.sim.disk_path(disk))
        self.sim.clear_request_log()

        image_id = self._create_image(server)

        snap = self.glance.show(None, image_id)
        self.assertEqual('active', snap['status'])
        self.assertEqual('raw', snap['disk_format'])
        self.assertEqual(disk_size, snap['size'])
        self.assertEqual((disk_size, disk_fp), fm_base.content_fingerprint(
            self.glance.data_path(image_id)))
        # The whole disk streamed (the flavor's 1 GB, as a device reads):
        # the booted image's bytes, then zeros.
        self.assertEqual(self.flavor_disk_gb << 30, snap['size'])
        orig = self.glance.read_image(self.image['id'])
        self.assertEqual(orig, self.glance.read_image(image_id, len(orig)))
        self.assertTrue(fm_base.zeros_after(self.glance.data_path(image_id),
                                            len(orig)))
        # Read through the mapping the fixture saw, which is gone again.
        self.assertEqual([disk], self.disks.calls)
        self.assertEqual([], self._mgmt_mappings())
        # REST cost: a conditional GET of the VIOS the boot kept (304: no
        # body), one POST to map, one to unmap (from the map's answer).
        vios_reqs = [(r['method'], r['path'].count('/'), r['status'])
                     for r in self._vios_log()]
        self.assertEqual([('GET',) + self.vios_read, ('POST', 5, 200),
                          ('POST', 5, 200)], vios_reqs)

    def test_failed_upload_leaves_no_mapping(self):
        server = self._boot()

        def broken_update(context, image_id, metadata, data=None,
                          purge_props=False):
            data.read(1024)
            raise IOError('image service went away mid-upload')
        with mock.patch.object(self.glance, 'update', broken_update):
            resp = self.api.post_server_action(
                server['id'], {'createImage': {'name': 'broken'}})
            self._wait_for_status(server, 'ACTIVE')
        # nova removed the failed snapshot image.
        self.assertNotIn(resp['image_id'], self.glance.images)
        self.assertEqual(1, len(self.disks.calls))
        self.assertEqual([], self._mgmt_mappings())
        self._assert_running_with_disk(server)

    def test_failed_unmap_is_retried_by_revert(self):
        server = self._boot()
        # Refuse the second VIOS POST of the snapshot: the unmap (a 4xx:
        # certainly not made, so not retried on the spot).
        self.sim.clear_request_log()
        self.sim.inject_fault(method='POST', path='VirtualIOServer', nth=2,
                              status=409)
        self.api.post_server_action(
            server['id'], {'createImage': {'name': 'unmap-fails'}})
        self._wait_for_status(server, 'ACTIVE')
        # Map (from the VIOS the boot kept), the refused unmap, then the
        # revert's unmap (after a re-read).
        self.assertEqual(
            [('GET', self.vios_read[1]), ('POST', 200), ('POST', 409),
             ('GET', 200),
             ('POST', 200)],
            [(r['method'], r['status']) for r in self._vios_log()])
        self.assertEqual([], self._mgmt_mappings())
        self._assert_running_with_disk(server)


class TestSnapshotLocalDisk(_DiskDriverMixin, SnapshotTestMixin,
                           base.PowerVMNovaTestCase):
    disk_driver = 'localdisk'


class TestSnapshotSSP(_DiskDriverMixin, SnapshotTestMixin,
                      base.PowerVMNovaTestCase):
    disk_driver = 'ssp'
    vios_read = (4, 200)   # two VIOSes serve the SSP
