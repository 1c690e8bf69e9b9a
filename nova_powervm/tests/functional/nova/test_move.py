"""Two compute services on two simulated hosts: resize and migration."""
import os

from nova.tests.functional.api import client

from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts
from nova_powervm.virt.powervm import slot_map


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


class TestResizeLocaldisk(base_hosts.TwoHostsTestCase):
    """localdisk: resize on the same host; no migration to another."""

    def setUp(self):
        super().setUp()
        self.big = self._create_flavor(
            name='pvm.big', memory_mb=4096, vcpu=2, disk=2, ephemeral=0,
            extra_spec={'powervm:proc_units': '0.4'})
        self.before2 = self.sim2.inventory()

    def _check_other_host_untouched(self):
        self._unused(base_hosts.COMPUTE_HOST2)
        self.assertEqual(self._comparable(self.before2),
                         self._comparable(self.sim2.inventory()))

    def _boot_disk_gb(self):
        return [gb for name, gb in self._data_vg_disks().items()
                if name.startswith('b_')]

    def test_resize_up_revert_then_confirm(self):
        server = self._boot(host=base.COMPUTE_HOST)
        self._disable(base_hosts.COMPUTE_HOST2)
        resize = {'resize': {'flavorRef': self.big}}
        server = self._move(server, resize)
        self.assertEqual(base.COMPUTE_HOST, self._host_of(server))
        lpar = self._lpar(server)
        self.assertEqual((2, 4096), self._proc_mem(lpar))
        self.assertEqual('0.40', xu_text(
            lpar, 'PartitionProcessorConfiguration/'
                  'SharedProcessorConfiguration/DesiredProcessingUnits'))
        self.assertEqual('running', xu_text(lpar, 'PartitionState'))
        self.assertEqual([2.0], self._boot_disk_gb())

        server = self._revert(server)
        lpar = self._lpar(server)
        self.assertEqual((1, 2048), self._proc_mem(lpar))
        self.assertEqual('running', xu_text(lpar, 'PartitionState'))
        # A disk never shrinks: the grown boot disk stays.
        self.assertEqual([2.0], self._boot_disk_gb())
        self.assertEqual(self._flavor_usage(self.flavor),
                         self._usages(base.COMPUTE_HOST))

        server = self._confirm(self._move(server, resize))
        self.assertEqual((2, 4096), self._proc_mem(self._lpar(server)))
        self.assertEqual('running', self._state(server))
        self.assertEqual(self._flavor_usage(self.big),
                         self._usages(base.COMPUTE_HOST))
        self._check_other_host_untouched()

    def _assert_refused(self, server, action, words):
        """The action failed with ``words`` in its fault; nothing moved."""
        server = super()._assert_refused(server, action, words)
        self.assertEqual(base.COMPUTE_HOST, self._host_of(server))
        self.assertEqual(self._flavor_usage(self.big),
                         self._usages(base.COMPUTE_HOST))
        self._check_other_host_untouched()
        return server

    def test_shrink_and_migration_refused(self):
        server = self._boot(host=base.COMPUTE_HOST, flavor_id=self.big)
        self.assertEqual('running', self._state(server))
        server = self._assert_refused(
            server, {'migrate': None},
            ['ResizeError', 'storage of this host only'])
        # nova's API refuses a shrink below the disk the image got at boot
        # (the driver refuses it too: unit tests).
        before = self.sim.inventory()
        ex = self.assertRaises(
            client.OpenStackApiException, self.api.post_server_action,
            server['id'], {'resize': {'flavorRef': self.flavor}})
        self.assertEqual(400, ex.response.status_code)
        self.assertEqual(before, self.sim.inventory())


def xu_text(el, path):
    return base.xu.text(el, path)


class TestMigrateSSP(base_hosts.TwoHostsTestCase):
    """SSP: the boot LU stays in the shared pool; the partition moves."""

    POWERVM_FLAGS = {'disk_driver': 'ssp'}

    def _boot_lus(self):
        """(name, GB) of the instance boot LUs in the pool (both hosts)."""
        found = []
        for sim in (self.sim, self.sim2):
            pools = sim.inventory()['ssp']
            found.append(sorted((lu[0], lu[2]) for pool in pools.values()
                                for lu in pool['logical_units']
                                if lu[1] == 'VirtualIO_Disk'))
        self.assertEqual(found[0], found[1])
        return found[0]

    def _on_host(self, sim, server, state):
        """The server's partition runs/stops on ``sim``, its LU mapped."""
        lpar = self._lpar_on(sim, server)
        self.assertIsNotNone(lpar)
        self.assertEqual(state, xu_text(lpar, 'PartitionState'))
        with self._on(sim):
            # (through each VIOS of the host in the cluster)
            self.assertEqual({'LogicalUnit'},
                             {m[1] for m in self._disk_mappings(server)})

    def _map_owner(self, server):
        """The managed system that saved the server's slot map."""
        path = slot_map.LocalSlotMapStore.path(server['id'])
        self.assertTrue(os.path.exists(path))
        return slot_map.LocalSlotMapStore(server['id']).owner

    def test_rebuild_after_migration_keeps_the_slots(self):
        server = self._boot(host=base.COMPUTE_HOST,
                            networks=[{'port': self.neutron.port_1['id']}])
        server = self._confirm(self._move(server, {'migrate': None}))
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        self.assertEqual(self.sim2.host_uuid, self._map_owner(server))
        # A second adapter after the disk mappings: the partition's slots
        # are no longer the ones a new partition gets.
        self.sim2.set_rmc(self._pvm_uuid(server))
        port = self.neutron.add_port(self.neutron.port_2)
        self.api.attach_interface(server['id'], {'interfaceAttachment': {
            'port_id': port['id']}})
        before = self._slots(self.sim2, server)
        # (port 1, the RMC adapter, the LU through two VIOSes, port 2)
        self.assertEqual((3, 2), (len(before[0]), len(before[1])), before)
        mac = port['mac_address'].replace(':', '').upper()
        self.assertGreater(int(dict(before[0])[mac]),
                           max(int(slot) for _t, _s, slot in before[1]))

        self._action(server, {'rebuild': {'imageRef': self.image['id']}},
                     'ACTIVE')
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        after = self._slots(self.sim2, server)
        # A new boot LU (same name), in the same slots.
        self.assertEqual((before[0], [(t, slot) for t, _s, slot in before[1]]),
                         (after[0], [(t, slot) for t, _s, slot in after[1]]))
        self._delete(server)

    def test_migrate_revert_then_resize_to_other_host_confirm(self):
        server = self._boot(host=base.COMPUTE_HOST)
        lus = self._boot_lus()
        self.assertEqual(1, len(lus))
        start2 = self.sim2.inventory()

        server = self._move(server, {'migrate': None})
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        self._on_host(self.sim2, server, 'running')
        # The source keeps its stopped partition for a revert.
        self._on_host(self.sim, server, 'not activated')
        self.assertEqual(lus, self._boot_lus())
        self.assertEqual(self._flavor_usage(self.flavor),
                         self._usages(base_hosts.COMPUTE_HOST2))

        server = self._revert(server)
        self.assertEqual(base.COMPUTE_HOST, self._host_of(server))
        self._on_host(self.sim, server, 'running')
        self.assertIsNone(self._lpar_on(self.sim2, server))
        self.assertEqual(lus, self._boot_lus())
        self.assertEqual(self._without_storage(start2),
                         self._without_storage(self.sim2.inventory()))
        self.assertEqual(self._flavor_usage(self.flavor),
                         self._usages(base.COMPUTE_HOST))
        self._unused(base_hosts.COMPUTE_HOST2)
        # Both hosts see one slot_map_dir: the target's map went with its
        # partition and the source saved its own again.
        self.assertEqual(self.sim.host_uuid, self._map_owner(server))

        # A resize that must go to the other host grows the LU there.
        big = self._create_flavor(name='pvm.big', memory_mb=4096, vcpu=2,
                                  disk=2, ephemeral=0)
        self._disable(base.COMPUTE_HOST)
        server = self._confirm(self._move(
            server, {'resize': {'flavorRef': big}}))
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        self._on_host(self.sim2, server, 'running')
        self.assertEqual((2, 4096),
                         self._proc_mem(self._lpar_on(self.sim2, server)))
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual([(lus[0][0], 2.0)], self._boot_lus())
        # The map is the target's; the confirm left it (it deleted only a
        # map the source saved: issue 19, a leak).
        self.assertEqual(self.sim2.host_uuid, self._map_owner(server))
        # Only the shared pool changed on the source (the grown LU).
        self.assertEqual(
            ['ssp'], self._inventory_diff(self._without_storage(
                self.start_inventory), self._without_storage(
                    self.sim.inventory())))
        self.assertEqual(self._flavor_usage(big),
                         self._usages(base_hosts.COMPUTE_HOST2))
        self._unused(base.COMPUTE_HOST)


class TestMigrateBootFromVolume(base_hosts.TwoHostsTestCase):
    """A vSCSI boot volume is reconnected on the target."""

    def test_migrate_confirm(self):
        vol_id = self.cinder.add_fc_volume(self._fc_targets(), lun=7,
                                           bootable=True)
        body = self._build_server(image_uuid='', flavor_id=self.flavor,
                                  networks='none')
        body.pop('imageRef', None)
        body['host'] = base.COMPUTE_HOST
        body['block_device_mapping_v2'] = [{
            'source_type': 'volume', 'destination_type': 'volume',
            'boot_index': 0, 'uuid': vol_id}]
        server = self._wait_for_status(
            self.api.post_server({'server': body}), 'ACTIVE')
        self.assertTrue(self._volume_mappings(server))

        server = self._move(server, {'migrate': None})
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        with self._on(self.sim2):
            self.assertEqual('running', self._state(server))
            self.assertTrue(self._volume_mappings(server))
            self.assertEqual([], self._disk_mappings(server))
        # The source partition (stopped) no longer maps the volume.
        self.assertEqual('not activated', self._state(server))
        self.assertEqual([], self._volume_mappings(server))

        server = self._confirm(server)
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual('in-use', self.cinder.volumes[vol_id]['status'])
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 2048, 'DISK_GB': 0},
                         self._usages(base_hosts.COMPUTE_HOST2))
        self._unused(base.COMPUTE_HOST)
