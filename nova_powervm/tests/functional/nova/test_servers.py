"""Servers through nova's compute API, backed by the PowerVM simulator."""
import json
import os

from nova import context as nova_context

from nova_powervm.tests.functional import base as fbase
from nova_powervm.tests.functional.nova import base
from nova_powervm.virt.powervm.disk import localdisk
from nova_powervm.virt.powervm import slot_map


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

    def test_shelve_offload_forgets_the_slot_map(self):
        # Unshelving spawns anew (maybe elsewhere) and deleting an offloaded
        # server never reaches the compute: nothing reads the map again.
        server = self._boot()
        saved = slot_map.LocalSlotMapStore.path(server['id'])
        self.assertTrue(os.path.exists(saved))
        self.flags(shelved_offload_time=0)
        self._action(server, {'shelve': None}, 'SHELVED_OFFLOADED')
        self.assertIsNone(self._lpar(server))
        self.assertFalse(os.path.exists(saved))

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


class TestConfigDrive(base.PowerVMNovaTestCase):
    """nova's config drive reaches the partition as virtual optical media."""

    def setUp(self):
        # nova's own metadata and builder, with the real ISO tool.
        fbase.require_iso_tool(self)
        super().setUp()
        self.flags(mkisofs_cmd=fbase.ISO_TOOL, config_drive_format='iso9660')

    def _vopt_mappings(self):
        return [m for m in self.sim.inventory()['scsi_mappings']
                if m['storage_type'] == 'VirtualOpticalMedia']

    def test_boot_with_config_drive_and_delete(self):
        server = self._boot(config_drive=True, networks='auto')
        self._assert_running_with_disk(server)
        media = [m for m in self._scsi_mappings(server)
                 if m[1] == 'VirtualOpticalMedia']
        self.assertEqual(1, len(media), self._scsi_mappings(server))
        # A real ISO 9660 image holding nova's metadata for this server.
        label, files = fbase.iso9660(self.sim.disk_path(name=media[0][2]))
        self.assertEqual('config-2', label)
        meta = json.loads(files['openstack/latest/meta_data.json'])
        self.assertEqual(server['id'], meta['uuid'])
        self.assertEqual(1, len(self._vopt_mappings()))

        self._delete(server)
        self.assertEqual([], self._vopt_mappings())
        self.assertEqual(self._without_storage(self.start_inventory),
                         self._without_storage(self.sim.inventory()))
        # The media repository holds no media any more.
        self.assertEqual(
            [], [m for vg in self.sim.inventory()['volume_groups'].values()
                 for m in vg['media']])
