"""Servers through nova's compute API, backed by the PowerVM simulator."""
from nova_powervm.tests.functional.nova import base


class TestServerLifecycle(base.PowerVMNovaTestCase):
    """Boot, power, reboot and delete through the REST API."""

    def test_boot_and_delete(self):
        server = self._boot(networks='auto')
        lpar = self._assert_running_with_disk(server)
        self.assertTrue(self._adapters_of(lpar),
                        'the partition has no client network adapter')

        self._delete(server)
        self.assertIsNone(self._lpar(server))
        self.assertEqual(self.start_inventory, self.sim.inventory())

    def test_stop_start(self):
        server = self._boot()
        self._action(server, {'os-stop': None}, 'SHUTOFF')
        self.assertEqual('not activated', self._state(server))
        self._action(server, {'os-start': None}, 'ACTIVE')
        self.assertEqual('running', self._state(server))

    def test_soft_and_hard_reboot(self):
        server = self._boot()
        for kind in ('SOFT', 'HARD'):
            self.sim.clear_request_log()
            self.api.post_server_action(server['id'],
                                        {'reboot': {'type': kind}})
            self._wait_for_status(server, 'ACTIVE')
            self.assertEqual('running', self._state(server))
            ops = self._job_ops()
            self.assertIn('PowerOff', ops, kind)
            self.assertIn('PowerOn', ops, kind)
            self.assertLess(ops.index('PowerOff'), ops.index('PowerOn'))


class TestServerFaults(base.PowerVMNovaTestCase):
    """Bad input fails the build before anything is created."""

    def test_invalid_extra_spec_goes_to_error(self):
        flavor = self._create_flavor(name='pvm.bad', memory_mb=2048,
                                     vcpu=1, disk=1)
        # nova validates known extra specs from microversion 2.86 on; an
        # older client can still store any value, which the driver must
        # refuse itself.
        self.api.microversion = '2.85'
        self.api.post_extra_spec(
            flavor, {'extra_specs': {'powervm:proc_units': 'lots'}})
        self.api.microversion = self.microversion

        server = self._boot(expected='ERROR', flavor_id=flavor)
        self.assertIn('powervm:proc_units', server['fault']['message'])
        self.assertEqual(self.start_inventory, self.sim.inventory())
