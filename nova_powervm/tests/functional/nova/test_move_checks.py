"""Migrations the target cannot take; NPIV volumes following a migration.

The target checks itself before the source changes anything (driver's
``move_check``): a host without a path to a volume's LUN, outside the boot
disk's shared storage pool, or too small for the flavor refuses; nova
records the fault, the migration errors, the server stays ACTIVE where it
was and neither host changed.
"""
from nova import context as nova_context

from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts

HOST1, HOST2 = base.COMPUTE_HOST, base_hosts.COMPUTE_HOST2


class _SSPMoves(base_hosts.TwoHostsTestCase):

    POWERVM_FLAGS = {'disk_driver': 'ssp'}

    def _vfc(self, sim, server):
        """Client WWPNs of the server's virtual FC mappings on ``sim``."""
        uuid = self._pvm_uuid(server)
        return sorted(m['wwpns'] for m in sim.inventory()['vfc_mappings']
                      if m['client'] == uuid)


class TestTargetRefuses(_SSPMoves):

    @staticmethod
    def _vioses(sim):
        return [base.xu.atom_id(v) for v in sim.objects('VirtualIOServer')]

    def _max_vcpus(self, sim, count):
        """Set the host's virtual processors per partition; the compute
        reads its host again (its periodic resource update).
        """
        with sim.lock:
            ms = sim.store.of_type('ManagedSystem')[0]
            ms.set('AssociatedSystemProcessorConfiguration/'
                   'CurrentMaximumVirtualProcessorsPerAIXOrLinuxPartition',
                   count)
            sim.store.touch(ms)
        self.compute2.manager.update_available_resource(
            nova_context.get_admin_context())

    def test_refusals_then_migrate_with_vscsi_volume(self):
        server = self._boot(host=HOST1)
        vol = self._attach_fc_volume(server, lun=3)
        self.assertTrue(self._volume_mappings(server))

        # Host 2's VIOSes have no path to the volume's targets (zoning).
        for wwpn in base.FC_TARGETS:
            self.sim2.set_fc_target_reachable(wwpn, False)
        server = self._assert_refused(
            server, {'migrate': None},
            ['ResizeError', 'host %s cannot take the instance' % HOST2,
             'no path to volume %s' % vol])
        for wwpn in base.FC_TARGETS:
            self.sim2.set_fc_target_reachable(wwpn, True)

        # Host 2's VIOSes left the cluster.
        vioses2 = self._vioses(self.sim2)
        for uuid in vioses2:
            self.sim2.set_cluster_member(uuid, member=False)
        server = self._assert_refused(
            server, {'migrate': None},
            ['not a member of the shared storage pool'])
        for uuid in vioses2:
            self.sim2.set_cluster_member(uuid, member=True)

        # Host 2 gives a partition one virtual processor at most.
        self._max_vcpus(self.sim2, 1)
        big = self._create_flavor(name='pvm.2cpu', memory_mb=2048, vcpu=2,
                                  disk=1, ephemeral=0)
        self._disable(HOST1)
        server = self._assert_refused(
            server, {'resize': {'flavorRef': big}},
            ['host %s cannot take the instance' % HOST2,
             'does not fit managed system'])
        self._max_vcpus(self.sim2, 30)

        # With paths, pool and flavor right, the server and its volume go.
        server = self._confirm(self._move(server, {'migrate': None}))
        self.assertEqual(HOST2, self._host_of(server))
        self.assertIsNone(self._lpar_on(self.sim, server))
        with self._on(self.sim2):
            self.assertEqual('running', self._state(server))
            self.assertTrue(self._volume_mappings(server))
        self.assertEqual('in-use', self.cinder.volumes[vol]['status'])
        # The source's VIOSes forgot the volume's hdisks.
        self.assertEqual(self.start_inventory['hdisks'],
                         self.sim.inventory()['hdisks'])
        self._unused(HOST1)


class TestMigrateNPIV(_SSPMoves):
    """An NPIV volume: the partition's own WWPNs move with it."""

    POWERVM_FLAGS = {'disk_driver': 'ssp', 'fc_attach_strategy': 'npiv'}

    def test_refused_migrate_revert_then_confirm(self):
        server = self._boot(host=HOST1)
        vol = self._attach_fc_volume(server, lun=4)
        wwpns = self._vfc(self.sim, server)
        self.assertEqual(1, len(wwpns), wwpns)
        self.assertEqual([], self._vfc(self.sim2, server))
        start2 = self.sim2.inventory()

        # No port of fabric A on host 2.
        ports1 = sorted(p['wwpn'] for p in
                        self.sim.inventory()['fc_ports'].values())
        self.flags(group='powervm', fabric_A_port_wwpns=','.join(ports1))
        server = self._assert_refused(
            server, {'migrate': None},
            ['host %s cannot take the instance' % HOST2,
             'NPIV fabric(s) A'])
        self.flags(group='powervm', fabric_A_port_wwpns='')

        server = self._move(server, {'migrate': None})
        self.assertEqual(HOST2, self._host_of(server))
        with self._on(self.sim2):
            self.assertEqual('running', self._state(server))
        self.assertEqual(wwpns, self._vfc(self.sim2, server))
        self.assertEqual([], self._vfc(self.sim, server))
        self.assertEqual('not activated', self._state(server))

        server = self._revert(server)
        self.assertEqual(HOST1, self._host_of(server))
        self.assertEqual('running', self._state(server))
        self.assertEqual(wwpns, self._vfc(self.sim, server))
        self.assertIsNone(self._lpar_on(self.sim2, server))
        self.assertEqual(self._without_storage(start2),
                         self._without_storage(self.sim2.inventory()))
        self._unused(HOST2)

        server = self._confirm(self._move(server, {'migrate': None}))
        self.assertEqual(HOST2, self._host_of(server))
        self.assertEqual(wwpns, self._vfc(self.sim2, server))
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual('in-use', self.cinder.volumes[vol]['status'])
        self._unused(HOST1)
        self.assertEqual(self._flavor_usage(self.flavor),
                         self._usages(HOST2))
