"""Evacuate and rebuild through nova's API, two computes, SSP disks.

The server's partition keeps its client slots (network adapter, boot LU
mappings) on the evacuation target and after a rebuild; the LU is
reattached on the target, not recreated; when the source compute comes
back, nova destroys the partition there without touching the LU; placement
follows.
"""
from unittest import mock

from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts

HOST1, HOST2 = base.COMPUTE_HOST, base_hosts.COMPUTE_HOST2
FLAVOR_USAGE = {'VCPU': 1, 'MEMORY_MB': 2048, 'DISK_GB': 1}
NO_USAGE = {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0}


class TestEvacuateRebuild(base_hosts.TwoHostsTestCase):

    POWERVM_FLAGS = {'disk_driver': 'ssp'}

    def _disk_lus(self):
        return {xu.text(lu, 'UnitName'): xu.text(lu, 'UniqueDeviceID')
                for lu in self.sim.objects('LogicalUnit')
                if xu.text(lu, 'LogicalUnitType') == 'VirtualIO_Disk'}

    def _force_down(self, host, down):
        service, = self.api.get_services(host=host, binary='nova-compute')
        self.api.put_service_force_down(service['id'], down)

    def _restart_host1(self):
        """Start compute 1 again, on its own simulated host."""
        self.flags(group='powervm', **self.sim_fx.flags_for_conf(0))
        node = self.compute.manager.driver._node_uuid
        with mock.patch('nova.virt.node.get_local_node_uuid',
                        return_value=node):
            self.compute = self.restart_compute_service(self.compute)

    def test_evacuate_then_rebuild(self):
        server = self._boot(host=HOST1,
                            networks=[{'port': self.neutron.port_1['id']}])
        before = self._slots(self.sim, server)
        self.assertTrue(before[0] and before[1], before)
        lus = self._disk_lus()
        self.assertEqual(1, len(lus))

        # Host 1's compute fails.
        self.compute.stop()
        self._force_down(HOST1, True)
        # nova >= 2.95 evacuates to a stopped server.
        self._action(server, {'evacuate': {}}, 'SHUTOFF')
        self.assertEqual(HOST2, self._host_of(server))
        self.assertEqual('not activated', xu.text(
            self._lpar_on(self.sim2, server), 'PartitionState'))
        self.assertEqual(before, self._slots(self.sim2, server))
        self.assertEqual(lus, self._disk_lus())
        self.assertEqual(FLAVOR_USAGE, self._usages(HOST2))

        # Host 1 is back: nova removes the partition there, not the LU.
        self._restart_host1()
        self._force_down(HOST1, False)
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual(lus, self._disk_lus())
        self.assertEqual(NO_USAGE, self._usages(HOST1))
        self.assertEqual(FLAVOR_USAGE, self._usages(HOST2))

        # Rebuild on host 2: a new LU, the same slots.
        self._action(server, {'os-start': None}, 'ACTIVE')
        self._action(server, {'rebuild': {'imageRef': self.image['id']}},
                     'ACTIVE')
        self.assertEqual(HOST2, self._host_of(server))
        self.assertEqual(before, self._slots(self.sim2, server))
        new_lus = self._disk_lus()
        self.assertEqual(set(lus), set(new_lus))
        self.assertNotEqual(lus, new_lus)
        self.assertEqual(FLAVOR_USAGE, self._usages(HOST2))

        self._delete(server)
        self.assertEqual({}, self._disk_lus())
        self.assertEqual(NO_USAGE, self._usages(HOST2))
        # The rebuild cached its image in the pool (kept until the image
        # cache manager reclaims it); nothing else is left on host 2.
        after = self._without_storage(self.sim2.inventory())
        for pool in after.pop('ssp').values():
            self.assertEqual({'VirtualIO_Image'},
                             {lu[1] for lu in pool['logical_units']})
        start = self._without_storage(self.start_inventory2)
        start.pop('ssp')
        self.assertEqual(start, after)
