"""Servers through nova's compute API, backed by the PowerVM simulator."""
from nova import context as nova_context

from nova_powervm.tests.functional.nova import base
from nova_powervm.virt.powervm.disk import localdisk


class TestServerLifecycle(base.PowerVMNovaTestCase):
    """Boot, power, reboot and delete through the REST API."""

    def test_boot_and_delete(self):
        server = self._boot(networks='auto')
        self._assert_running_with_disk(server)
        self.assertTrue(self._adapters_of(server),
                        'the partition has no client network adapter')

        self._delete(server)
        self.assertIsNone(self._lpar(server))
        # Everything is gone but the image cache: the image's disk stays in
        # the volume group for the next boot from that image.
        self.assertEqual(self._without_storage(self.start_inventory),
                         self._without_storage(self.sim.inventory()))
        self.assertEqual([localdisk.image_disk_name(self.image['id'])],
                         list(self._data_vg_disks()))

    def test_image_cache_cleaned_after_delete(self):
        server = self._boot()
        self._delete(server)
        self.flags(remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')
        self.compute.manager._run_image_cache_manager_pass(
            nova_context.get_admin_context())
        self.assertEqual({}, self._data_vg_disks())
        self.assertInventoryRestored()

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
            # A power off that leaves the partition running is a restart.
            self.assertIn('PowerOff', self._job_ops(), kind)


class TestServerFaults(base.PowerVMNovaTestCase):
    """Bad input fails the build before anything is created."""

    def test_invalid_extra_spec_goes_to_error(self):
        flavor = self._create_flavor(name='pvm.bad', memory_mb=2048,
                                     vcpu=1, disk=1, ephemeral=0)
        # nova validates known extra specs from microversion 2.86 on; an
        # older client can still store any value, which the driver must
        # refuse itself.
        self.api.microversion = '2.85'
        self.api.post_extra_spec(
            flavor, {'extra_specs': {'powervm:proc_units': 'lots'}})
        self.api.microversion = self.microversion

        self.sim.clear_request_log()
        server = self._boot(expected='ERROR', flavor_id=flavor)
        self.assertIn('powervm:proc_units', server['fault']['message'])
        # Refused before anything was sent that changes the host.
        self.assertEqual([], [(r['method'], r['path'])
                              for r in self.sim.request_log()
                              if r['method'] in ('PUT', 'POST', 'DELETE')])
        self.assertInventoryRestored()
