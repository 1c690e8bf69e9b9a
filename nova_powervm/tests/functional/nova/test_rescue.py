"""Rescue and unrescue through nova's compute API (simulator-backed)."""
from nova_powervm.tests.functional.nova import base

RESCUE_IMAGE_SIZE = 2 * 1024 * 1024 + 3


class TestRescue(base.PowerVMNovaTestCase):

    def setUp(self):
        super().setUp()
        self.rescue_image = self.glance.add_image(
            RESCUE_IMAGE_SIZE, name='rescue-image', seed='rescue')

    def _rescue(self, server):
        return self._action(server, {'rescue': {
            'rescue_image_ref': self.rescue_image['id']}}, 'RESCUE')

    def _disk_names(self, server):
        return sorted(m[2] for m in self._disk_mappings(server))

    def test_rescue_unrescue(self):
        server = self._boot()
        boot_disks = self._disk_names(server)
        self.assertEqual(1, len(boot_disks))
        self._rescue(server)
        # Firmware (SMS) with the boot disk and a rescue disk mapped.
        self.assertEqual('open firmware', self._state(server))
        disks = self._disk_names(server)
        self.assertEqual(2, len(disks), disks)
        self.assertLess(set(boot_disks), set(disks))
        self.assertIn('PowerOn', self._job_ops())

        self._action(server, {'unrescue': None}, 'ACTIVE')
        self.assertEqual('running', self._state(server))
        self.assertEqual(boot_disks, self._disk_names(server))
        self._delete(server)
        self.assertEqual(self._without_storage(self.start_inventory),
                         self._without_storage(self.sim.inventory()))

    def test_rescue_stopped_and_delete_while_rescued(self):
        server = self._boot()
        self._action(server, {'os-stop': None}, 'SHUTOFF')
        self._rescue(server)
        self.assertEqual('open firmware', self._state(server))
        self.assertEqual(2, len(self._disk_names(server)))
        self._delete(server)
        self.assertIsNone(self._lpar(server))
        # Both disks are gone: only the two cached images stay.
        self.assertEqual(2, len(self._data_vg_disks()),
                         self._data_vg_disks())
        self.assertEqual(self._without_storage(self.start_inventory),
                         self._without_storage(self.sim.inventory()))
