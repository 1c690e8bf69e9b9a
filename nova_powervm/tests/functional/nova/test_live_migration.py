"""Live migration through nova's API between two simulated hosts.

The simulator runs PowerVM's mobility jobs (``partition_mobility``); the
tests check both hosts' inventories and placement afterwards.
"""
from nova_powervm.simulator import partition
from nova_powervm.simulator import partition_mobility_keys as sim_keys
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts
from nova_powervm.virt.powervm import slot_map

HOST1, HOST2 = base.COMPUTE_HOST, base_hosts.COMPUTE_HOST2
DONE = ('completed', 'error', 'failed', 'cancelled')
RMC_SWITCH = 'MGMTSWITCH'
_MEM = 'AssociatedSystemMemoryConfiguration/'


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

    def _server_usage(self):
        return self._flavor_usage(self.flavor)

    def _running_on(self, sim, server, state='running'):
        """The server runs on ``sim`` alone; placement agrees."""
        other = self.sim2 if sim is self.sim else self.sim
        lpar = self._lpar_on(sim, server)
        self.assertIsNotNone(lpar)
        self.assertEqual(state, xu.text(lpar, 'PartitionState'))
        self.assertIsNone(self._lpar_on(other, server))
        host = HOST1 if sim is self.sim else HOST2
        self.assertEqual(self._host_of(server), host)
        self.assertEqual(self._server_usage(), self._usages(host))
        self._unused(HOST2 if host == HOST1 else HOST1)

    def _prepared(self, sim):
        """(authorized keys, RMC switch) a migration prepares on a target:
        the switch counts when the host had none at start.
        """
        start = (self.start_inventory if sim is self.sim
                 else self.start_inventory2)
        had = any(v.get('name') == RMC_SWITCH
                  for v in start['vswitches'].values())
        with sim.lock:
            keys = sim_keys.authorized_keys(sim)
        made = not had and any(v.get('name') == RMC_SWITCH for v in
                               sim.inventory()['vswitches'].values())
        return keys, made

    def _both(self):
        return (self._comparable(self.sim.inventory()),
                self._comparable(self.sim2.inventory()))

    def _still_on_source(self, server, before, state='running'):
        """ACTIVE on host 1 alone, both hosts as ``before``; host 2 holds
        no key or switch of the migration (its rollback is a cast).
        """
        server = self._wait_for_status(server, 'ACTIVE', task_state=None)
        self._running_on(self.sim, server, state)
        self._wait_for(lambda: self._prepared(self.sim2) == ([], False),
                       'host 2 to drop the key and switch of the migration')
        self.assertEqual(before, self._both())
        self.assertEqual({}, self.sim.inventory()['migrations'])
        return server

    def _refused(self, server, words, validated=False, state='running'):
        """nova's live migration is refused for ``words``: no Migrate job
        ran (PowerVM's MigrateValidate did when ``validated``), nothing
        changed on either host, the migration record is ``error``.
        """
        before = self._both()
        self.sim.clear_request_log()
        self._live_migrate(server)
        self.assertEqual('error', self._wait_migration(server)['status'])
        self.assertIn('Live migration refused: ' + words,
                      self.stdlog.logger.output)
        server = self._still_on_source(server, before, state)
        self.assertEqual(['MigrateValidate'] if validated else [],
                         [o for o in self._job_ops()
                          if o.startswith('Migrate')])
        return server

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
        self.assertEqual(self.sim.host_uuid,
                         slot_map.LocalSlotMapStore(server['id']).owner)
        server = self._migrated(server)
        self._running_on(self.sim2, server)
        # Both hosts see one slot_map_dir: the target took the source's
        # map over (LPM keeps the slots), the source did not delete it.
        self.assertEqual(self.sim2.host_uuid,
                         slot_map.LocalSlotMapStore(server['id']).owner)
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

    def _set_state(self, server, state):
        with self.sim.lock:
            obj = self.sim.store.get('LogicalPartition',
                                     self._pvm_uuid(server))
            partition.set_state(self.sim, obj, state)

    def _hypervisor_takes_memory(self, sim, free_mb):
        """The hypervisor leaves ``free_mb`` free (nova does not know)."""
        with sim.lock:
            ms = sim.store.of_type('ManagedSystem')[0]
            old = ms.text(_MEM + 'MemoryUsedByHypervisor')
            used = int(ms.text(_MEM + 'ConfigurableSystemMemory')) - \
                int(ms.text(_MEM + 'CurrentAvailableSystemMemory')) - \
                int(old or 0)
            ms.set(_MEM + 'MemoryUsedByHypervisor',
                   int(ms.text(_MEM + 'ConfigurableSystemMemory')) -
                   used - free_mb)
            partition.update_capacity(sim)
            return old

    def test_refused_before_anything_changes(self):
        server = self._boot_ready()
        modes = list(self.compute2.manager.driver.host_wrapper
                     .proc_compat_modes)
        # Checks on the hosts' own data (nova's pre-checks): the target
        # lacks the partition's processor compatibility mode ...
        self.sim2.set_host_mobility(proc_compat_modes=['default', 'POWER7'])
        server = self._refused(
            server, 'processor compatibility mode POWER8 of the partition '
                    'is not one of default, power7')
        self.sim2.set_host_mobility(proc_compat_modes=modes)
        # ... has less memory free than the partition has ...
        old = self._hypervisor_takes_memory(self.sim2, 1024)
        server = self._refused(server, 'target %s has 1024 MB of memory '
                                       'free; the partition needs 2048 MB'
                               % self.compute2.manager.driver.host_wrapper
                               .system_name)
        with self.sim2.lock:
            ms = self.sim2.store.of_type('ManagedSystem')[0]
            ms.set(_MEM + 'MemoryUsedByHypervisor', old)
            partition.update_capacity(self.sim2)
        # ... the partition is not running (stopped in its firmware) or its
        # RMC connection is down.
        self._set_state(server, 'open firmware')
        server = self._refused(server, 'partition instance-00000001: LPAR '
                                       'is not in an active state',
                               state='open firmware')
        self._set_state(server, 'running')
        self.sim.set_rmc(self._pvm_uuid(server), False)
        server = self._refused(server, 'partition instance-00000001: LPAR '
                                       'does not have an active RMC')
        self.sim.set_rmc(self._pvm_uuid(server), True)
        # Only PowerVM's validation (once the target trusts the source's
        # key) sees that the target's VIOSes cannot reach the boot LU.
        vioses2 = list(self.sim2.vios_uuids)
        for uuid in vioses2:
            self.sim2.set_cluster_member(uuid, member=False)
        server = self._refused(server, "PowerVM's validation of the move",
                               validated=True)
        self.assertIn('MigrationPreCheckError', self._fault_messages(server))
        for uuid in vioses2:
            self.sim2.set_cluster_member(uuid, member=True)

    def test_failed_and_stuck_migrations_stay_on_the_source(self):
        server = self._boot_ready()
        before = self._both()
        for fail, jobs in (('rollback', ['MigrateValidate', 'Migrate']),
                           ('stuck', ['MigrateValidate', 'Migrate',
                                      'MigrateRecover'])):
            self.sim.set_migration(fail=fail)
            self.sim.clear_request_log()
            self._live_migrate(server)
            self.assertEqual('error', self._wait_migration(server)['status'],
                             fail)
            server = self._still_on_source(server, before)
            self.assertIn('HSCL1B8', self._fault_messages(server))
            # A stuck one was put back on the source by MigrateRecover.
            self.assertEqual(jobs, [o for o in self._job_ops()
                                    if o.startswith('Migrate')], fail)
        # Still movable afterwards; the target keeps the key (and the
        # switch its adapter is on).
        server = self._migrated(server)
        self._running_on(self.sim2, server)
        keys, switch = self._prepared(self.sim2)
        self.assertEqual(1, len(keys))


class VolumeTestCase(LiveMigrationTestCase):

    POWERVM_FLAGS = {'disk_driver': 'localdisk'}

    def _server_usage(self):
        return dict(self._flavor_usage(self.flavor), DISK_GB=0)

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
        self.assertEqual(self._server_usage(), self._usages(HOST2))
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
        # Host 2's VIOSes have no path to the volume (its discovery in
        # pre_live_migration fails): refused, no hdisk left there.
        for wwpn in base.FC_TARGETS:
            self.sim2.set_fc_target_reachable(wwpn, False)
        server = self._refused(server, 'volume %s cannot be reached from '
                                       % vol_id)
        self.assertIn('volume %s cannot be reached' % vol_id,
                      self._fault_messages(server))
        for wwpn in base.FC_TARGETS:
            self.sim2.set_fc_target_reachable(wwpn, True)
        server = self._migrated(server)
        with self._on(self.sim2):
            self.assertTrue(self._volume_mappings(server))
        self._check_moved(server, vol_id, 'scsi_mappings')


class TestLiveMigrateNPIV(VolumeTestCase):

    POWERVM_FLAGS = {'disk_driver': 'localdisk',
                     'fc_attach_strategy': 'npiv'}

    def _logins(self, wwpns, index, allowed):
        for pair in wwpns:
            self.sim2.set_npiv_login(pair.split()[index], allowed=allowed)

    def test_boot_volume(self):
        server, vol_id = self._boot_from_volume(lun=8)
        before = self.sim.inventory()['vfc_mappings']
        wwpns = [m['wwpns'] for m in before]
        self.assertTrue(wwpns)
        self.assertTrue(all(len(w.split()) == 2 for w in wwpns))
        # The target's fabric refuses the pairs' second WWPNs: only
        # PowerVM's validation sees it; refused, nothing changed.
        self._logins(wwpns, 1, allowed=False)
        server = self._refused(server, "PowerVM's validation of the move",
                               validated=True)
        # It refuses the first ones instead: the target logs in with the
        # second, the move goes through.
        self._logins(wwpns, 1, allowed=True)
        self._logins(wwpns, 0, allowed=False)
        server = self._migrated(server)
        after = self._check_moved(server, vol_id, 'vfc_mappings')
        # The vFC mappings are on host 2's VIOSes only, the client
        # adapters kept their WWPN pairs and slots.
        self.assertEqual([], self.sim.inventory()['vfc_mappings'])
        self.assertEqual(
            sorted((m['client_slot'], m['wwpns']) for m in before),
            sorted((m['client_slot'], m['wwpns']) for m in after))
        self.assertEqual({self._pvm_uuid(server).upper()},
                         {m['client'].upper() for m in after})
