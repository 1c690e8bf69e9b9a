"""The host as nova sees it: Placement inventory and power state sync."""
import math

from nova_powervm.tests.functional.nova import base

xu = base.xu


class TestPlacementInventory(base.PowerVMNovaTestCase):

    def test_inventory_matches_managed_system(self):
        ms = self.sim.get_object('ManagedSystem', self.sim.host_uuid)
        proc_units = float(xu.text(
            ms, 'AssociatedSystemProcessorConfiguration/'
                'ConfigurableSystemProcessorUnits'))
        memory_mb = int(xu.text(
            ms, 'AssociatedSystemMemoryConfiguration/'
                'ConfigurableSystemMemory'))
        vg_gb = int(float(xu.text(self._data_vg_element(), 'GroupCapacity')))

        rp_uuid = self._get_provider_uuid_by_host(base.COMPUTE_HOST)
        inv = self._get_provider_inventory(rp_uuid)
        self.assertEqual(int(math.ceil(proc_units)), inv['VCPU']['total'])
        self.assertEqual(memory_mb, inv['MEMORY_MB']['total'])
        self.assertEqual(vg_gb, inv['DISK_GB']['total'])

        # A boot is claimed against that inventory.
        server = self._boot()
        usages = self._get_provider_usages(rp_uuid)
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 2048, 'DISK_GB': 1},
                         usages)
        self._delete(server)
        self.assertEqual({'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0},
                         self._get_provider_usages(rp_uuid))


class TestPowerStateFromEvents(base.PowerVMNovaTestCase):
    """A partition stopped outside nova becomes a SHUTOFF server."""

    def setUp(self):
        super().setUp()
        # The driver holds stop events back 15 s (a reboot passes through
        # 'not activated'); shorten that for the test.
        self.stub_out('nova_powervm.virt.powervm.event.STOP_EVENT_DELAY',
                      0.2)

    def test_stop_behind_nova_back_via_event_feed(self):
        server = self._boot()
        self.sim.set_partition_state(self._pvm_uuid(server), 'not activated')
        server = self._wait_for_status(server, 'SHUTOFF')
        self.assertEqual(4, server['OS-EXT-STS:power_state'])  # SHUTDOWN
        self.assertEqual('not activated', self._state(server))


class TestPowerStateSync(base.PowerVMNovaTestCase):
    """Without lifecycle events, nova's periodic sync notices the stop."""

    HANDLE_VIRT_LIFECYCLE_EVENTS = False

    def test_stop_behind_nova_back_via_periodic_sync(self):
        server = self._boot()
        self.sim.set_partition_state(self._pvm_uuid(server), 'not activated')
        self._run_power_sync()
        self._wait_for_status(server, 'SHUTOFF')
        self.assertEqual('not activated', self._state(server))
