"""Live migration through nova's API between two simulated hosts.

The simulator runs PowerVM's mobility jobs (``partition_mobility``); the
tests check both hosts' inventories and placement afterwards.
"""
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts

HOST1, HOST2 = base.COMPUTE_HOST, base_hosts.COMPUTE_HOST2
DONE = ('completed', 'error', 'failed', 'cancelled')


def _sea_vlans(sim):
    return {v for vlans in sim.sea_vlans().values() for v in vlans}


class LiveMigrationTestCase(base_hosts.TwoHostsTestCase):

    POWERVM_FLAGS = {'disk_driver': 'ssp'}

    def _boot_ready(self, **kw):
        """A running server on host 1 whose guest's RMC connection is up
        (mobility needs it; the simulator's guests have none until told).
        """
        server = self._boot(host=HOST1, **kw)
        self.sim.set_rmc(self._pvm_uuid(server), True)
        return server

    def _live_migrate(self, server, host=HOST2):
        """Ask for the migration; the waits then watch its record."""
        last = self._migration(server)
        self._last_mig_id = last['id'] if last else None
        self.api.post_server_action(server['id'], {'os-migrateLive': {
            'host': host, 'block_migration': 'auto'}})

    def _migration(self, server):
        """The server's newest migration record (None before there is)."""
        migs = self.api.api_get('/os-migrations?instance_uuid=%s' %
                                server['id']).body['migrations']
        return max(migs, key=lambda m: m['id']) if migs else None

    def _wait_migration(self, server, statuses=DONE):
        found = {}

        def _done():
            mig = found['mig'] = self._migration(server)
            return (mig and mig['id'] != self._last_mig_id and
                    mig['status'] in statuses)
        self._wait_for(_done, 'migration of %s to be %s' % (server['id'],
                                                            statuses))
        return found['mig']

    def _migrated(self, server):
        """Live-migrate to host 2 and wait until nova is done."""
        self._live_migrate(server)
        mig = self._wait_migration(server)
        self.assertEqual('completed', mig['status'],
                         self._fault_messages(server))
        server = self._wait_for_status(server, 'ACTIVE', task_state=None)
        self.assertEqual(HOST2, self._host_of(server))
        return server

    def _running_on(self, sim, server):
        """The server runs on ``sim`` alone; placement agrees."""
        other = self.sim2 if sim is self.sim else self.sim
        lpar = self._lpar_on(sim, server)
        self.assertIsNotNone(lpar)
        self.assertEqual('running', xu.text(lpar, 'PartitionState'))
        self.assertIsNone(self._lpar_on(other, server))
        host = HOST1 if sim is self.sim else HOST2
        self.assertEqual(self._host_of(server), host)
        self.assertEqual(self._flavor_usage(self.flavor), self._usages(host))
        self._unused(HOST2 if host == HOST1 else HOST1)

    def _storage_mappings(self, sim, server):
        with self._on(sim):
            return sorted(m[1] for m in self._disk_mappings(server))


class TestLiveMigrateSSP(LiveMigrationTestCase):
    """The boot LU stays in the pool both hosts share."""

    def test_live_migrate_with_a_port(self):
        server = self._boot_ready(
            networks=[{'port': self.neutron.port_1['id']}])
        lus = self.sim.inventory()['ssp']
        before2 = self.sim2.inventory()
        self.assertIn(self.neutron.VLAN, _sea_vlans(self.sim))
        self.assertNotIn(self.neutron.VLAN, _sea_vlans(self.sim2))
        server = self._migrated(server)
        self._running_on(self.sim2, server)
        # The boot LU is mapped through host 2's VIOSes now.
        self.assertEqual(['LogicalUnit'] * len(self.sim2.vios_uuids),
                         self._storage_mappings(self.sim2, server))
        self.assertEqual(lus, self.sim2.inventory()['ssp'])
        # Host 1 holds what it held before the server (the LU is shared);
        # its SEA no longer carries the port's VLAN, host 2's does.
        self.assertEqual(self._without_storage(self.start_inventory),
                         {k: v for k, v in self._without_storage(
                             self.sim.inventory()).items() if k != 'ssp'} |
                         {'ssp': self.start_inventory['ssp']})
        after2 = self._comparable(self.sim2.inventory())
        self.assertEqual(
            ['client_adapters', 'host', 'partitions', 'scsi_mappings'],
            [k for k in self._inventory_diff(self._comparable(before2),
                                             after2)
             if k != 'network_bridges'])
        self.assertIn(self.neutron.VLAN, _sea_vlans(self.sim2))
        self.assertNotIn(self.neutron.VLAN, _sea_vlans(self.sim))

    def test_abort(self):
        server = self._boot_ready()
        before = (self._comparable(self.sim.inventory()),
                  self._comparable(self.sim2.inventory()))
        self.sim.set_migration(duration_s=30)
        self._live_migrate(server)
        mig = self._wait_migration(server, ('running',) + DONE)
        self.assertEqual('running', mig['status'])

        def _moving():
            lpars = [self._lpar_on(s, server) for s in (self.sim, self.sim2)]
            return all(lp is not None and xu.text(lp, 'PartitionState') ==
                       'migrating running' for lp in lpars)
        self._wait_for(_moving, 'the partition to migrate')
        self.api.api_delete('/servers/%s/migrations/%s' % (server['id'],
                                                           mig['id']))
        self.assertEqual('cancelled',
                         self._wait_migration(server)['status'])
        server = self._wait_for_status(server, 'ACTIVE', task_state=None)
        self._running_on(self.sim, server)
        self.assertEqual(before, (self._comparable(self.sim.inventory()),
                                  self._comparable(self.sim2.inventory())))


class VolumeTestCase(LiveMigrationTestCase):

    POWERVM_FLAGS = {'disk_driver': 'localdisk'}

    def _boot_from_volume(self, lun):
        vol_id = self.cinder.add_fc_volume(self._fc_targets(), lun=lun,
                                           bootable=True)
        body = self._build_server(image_uuid='', flavor_id=self.flavor,
                                  networks='none')
        body.pop('imageRef', None)
        body['host'] = HOST1
        body['block_device_mapping_v2'] = [{
            'source_type': 'volume', 'destination_type': 'volume',
            'boot_index': 0, 'uuid': vol_id}]
        server = self._wait_for_status(
            self.api.post_server({'server': body}), 'ACTIVE')
        self.sim.set_rmc(self._pvm_uuid(server), True)
        return server, vol_id

    def _check_moved(self, server, vol_id, section):
        """Running on host 2 with the volume; host 1 as at start."""
        lpar = self._lpar_on(self.sim2, server)
        self.assertEqual('running', xu.text(lpar, 'PartitionState'))
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 2048, 'DISK_GB': 0},
                         self._usages(HOST2))
        self._unused(HOST1)
        self.assertEqual('in-use', self.cinder.volumes[vol_id]['status'])
        # Nothing of the server is left on host 1 (no mapping, no hdisk).
        self.assertEqual(self._without_storage(self.start_inventory),
                         self._without_storage(self.sim.inventory()))
        # Host 2 has no other server: its mappings are this one's.
        mine = self.sim2.inventory()[section]
        self.assertTrue(mine)
        return mine


class TestLiveMigrateVscsi(VolumeTestCase):

    def test_boot_volume(self):
        server, vol_id = self._boot_from_volume(lun=7)
        server = self._migrated(server)
        with self._on(self.sim2):
            self.assertTrue(self._volume_mappings(server))
        self._check_moved(server, vol_id, 'scsi_mappings')
