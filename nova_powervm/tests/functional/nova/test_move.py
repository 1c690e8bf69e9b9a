"""Two compute services on two simulated hosts: resize and migration."""
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts


class TestTwoComputes(base_hosts.TwoHostsTestCase):

    def test_each_compute_reports_and_boots_on_its_own_host(self):
        hyps = {h['hypervisor_hostname']: h for h in
                self.api.api_get('/os-hypervisors').body['hypervisors']}
        self.assertEqual({base.COMPUTE_HOST, base_hosts.COMPUTE_HOST2},
                         set(hyps))
        rps = {self._rp_uuid(h) for h in hyps}
        self.assertEqual(2, len(rps))
        # Each driver talks to its own managed system.
        drivers = [self.compute.manager.driver, self.compute2.manager.driver]
        self.assertEqual([self.sim.host_uuid, self.sim2.host_uuid],
                         [d.host_uuid for d in drivers])
        self.assertNotEqual(self.sim.host_uuid, self.sim2.host_uuid)

        server = self._boot(host=base_hosts.COMPUTE_HOST2)
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        self.assertIsNotNone(self._lpar_on(self.sim2, server))
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 2048, 'DISK_GB': 1},
                         self._usages(base_hosts.COMPUTE_HOST2))
        self.assertEqual({'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0},
                         self._usages(base.COMPUTE_HOST))
        self._delete(server)
        # (The image stays cached on host 2's volume group.)
        self.assertEqual(self._without_storage(self.start_inventory2),
                         self._without_storage(self.sim2.inventory()))
        self.assertEqual(self._comparable(self.start_inventory),
                         self._comparable(self.sim.inventory()))
