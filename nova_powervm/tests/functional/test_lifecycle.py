"""The driver's instance lifecycle against the PowerVM REST simulator.

Real pypowervm over HTTP, real TaskFlow flows; assertions read the
simulator's state back (partitions and their state, adapters, SCSI
mappings, media) and count the REST requests each operation costs.
"""
import threading
import time
from unittest import mock

import fixtures
from nova.compute import power_state
from nova.compute import provider_tree
from nova.compute import task_states
from nova import exception as nova_exc
from nova.network import model as network_model
from nova import objects
from nova import test
from nova.virt import event as nova_event
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import network as pvm_net
from pypowervm.wrappers import virtual_io_server as pvm_vios
from testtools import content

from nova_powervm import conf as cfg
from nova_powervm.simulator.fixture import SimulatorFixture
from nova_powervm.tests import event_threads
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import shared_answers
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import vm


CONF = cfg.CONF
INST_UUIDS = ['1a2b3c4d-0000-4000-8000-%012d' % n for n in range(1, 6)]
IMAGE_SIZE = 1024 * 1024 + 17


def make_instance(n=1, image_ref=None, config_drive=False, vcpus=1,
                  memory_mb=512, extra_specs=None):
    inst = objects.Instance(
        uuid=INST_UUIDS[n - 1], id=n, image_ref=image_ref,
        display_name='vm%d' % n, hostname='vm%d' % n, host='compute1',
        node='compute1', system_metadata={}, metadata={},
        project_id='p', user_id='u', task_state=task_states.SPAWNING,
        config_drive='True' if config_drive else '', launched_at=None,
        key_data=None, availability_zone=None, vm_state='building')
    inst.flavor = objects.Flavor(name='m1.pvm', flavorid='42', vcpus=vcpus,
                                 memory_mb=memory_mb, root_gb=1,
                                 ephemeral_gb=0, swap=0,
                                 extra_specs=extra_specs or {})
    return inst


# The seeded Shared Ethernet Adapter's PVID: always bridged, so a plug adds
# no VLAN to the SEA and an unplug removes none (request budgets count the
# driver's own steady-state cost; bridging a new VLAN is counted in
# test_network_media).
SEA_PVID = 2227


def sea_vif(n, vlan):
    return network_model.VIF(
        id='aaaaaaaa-0000-4000-8000-%012d' % n,
        address='fa:16:3e:00:00:%02x' % n, type='pvm_sea', active=True,
        details={network_model.VIF_DETAILS_VLAN: vlan},
        network=network_model.Network(id='net%d' % n, bridge='br-int',
                                      label='net%d' % n, subnets=[]))


def non_event(log):
    """Request log entries without the event listener's long polls."""
    return [(r['method'], r['path']) for r in base.non_event(log)]


class SimDriverTestCase(base.InventoryAssertions, test.NoDBTestCase):
    """The driver connected to a fresh simulator (init_host)."""

    # Set by subclasses that need real ephemeral storage in the simulator.
    real_disk = False

    def setUp(self):
        super().setUp()
        mgmt._reset_cache()
        self.addCleanup(mgmt._reset_cache)
        self.useFixture(event_threads.EventPollThreadsFixture())
        self.fx = self.useFixture(SimulatorFixture(power_delay_s=0.01,
                                                   event_hold_s=0.2))
        self.sim = self.fx.sim
        self.flags(group='powervm', **self.fx.flags_for_conf())
        self.flags(group='powervm', use_rmc_mgmt_vif=False)
        base.use_slot_map_dir(self)
        # A stop becomes a nova event quickly in tests.
        self.useFixture(fixtures.MockPatchObject(pvm_event,
                                                 'STOP_EVENT_DELAY', 0.3))
        if self.real_disk:
            self.glance = self.useFixture(
                pvm_fixtures.StreamingGlanceFixture(self))
            img = self.glance.add_image(IMAGE_SIZE, name='lc-image')
            self.image_meta = objects.ImageMeta.from_dict(img)
            self.image_id = img['id']
            self.flags(group='powervm', volume_group_name=self._pick_vg())
        else:
            disk = mock.Mock(capabilities={'has_imagecache': False},
                             capacity=100.0, capacity_used=10.0,
                             image_formats=('raw',))
            self.useFixture(fixtures.MockPatch(
                'nova_powervm.virt.powervm.disk.driver.get_disk_driver',
                return_value=disk))
        # batch.SHARE callers never change their answer.
        self.shared_answers = self.useFixture(
            shared_answers.SharedAnswersFixture())
        self.events = []
        self.events_seen = threading.Event()
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.drv.register_event_listener(self._on_event)
        self.drv.init_host('compute1')
        self.addCleanup(self._shutdown)

    def _pick_vg(self):
        names = [vg.findtext('{*}GroupName') for vg in
                 self.sim.objects('VolumeGroup')]
        names = [n for n in names if n and n != 'rootvg'] or names
        self.assertTrue(names, 'the simulator has no volume group')
        return names[0]

    def _shutdown(self):
        self.drv.cleanup_host('compute1')
        self.drv.adapter.session._logoff()

    def _on_event(self, evt):
        self.events.append((evt.get_instance_uuid(), evt.get_transition()))
        self.events_seen.set()

    def wait_events(self, expected, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(e in self.events for e in expected):
                return
            time.sleep(0.05)
        self.fail('events %s not seen; got %s' % (expected, self.events))

    def requests(self, fn, *args, **kwargs):
        """(result, [(method, path)]) of one call, event polls excluded."""
        self.sim.clear_request_log()
        ret = fn(*args, **kwargs)
        return ret, non_event(self.sim.request_log())

    def lpar(self, inst):
        return pvm_lpar.LPAR.get(self.drv.adapter, uuid=ids.pvm_uuid(inst))

    def cnas(self, inst):
        return pvm_net.CNA.get(self.drv.adapter, parent_type=pvm_lpar.LPAR,
                               parent_uuid=ids.pvm_uuid(inst))

    def create_partition(self, inst):
        """A partition for ``inst`` without the spawn flow (no disk)."""
        lpar_w = vm.build_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        return vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst,
                              lpar_w=lpar_w)


class TestPartitionOps(SimDriverTestCase):
    """Host and power operations (the disk driver is a stand-in here)."""

    def test_host_resources_and_inventory(self):
        res, reqs = self.requests(self.drv.get_available_resource,
                                  'compute1')
        self.assertEqual([('GET', '/rest/api/uom/ManagedSystem')], reqs)
        host_w = self.drv.host_wrapper
        self.assertEqual(host_w.memory_configurable, res['memory_mb'])
        self.assertEqual('phyp', res['hypervisor_type'])
        self.assertEqual('compute1', res['hypervisor_hostname'])
        self.assertEqual(100, res['local_gb'])
        # The node is the host init_host was given (not CONF.host, which
        # several compute services in one process share), with its UUID.
        self.assertEqual(['compute1'], self.drv.get_available_nodes())
        nodes = self.drv.get_nodenames_by_uuid()
        self.assertEqual(['compute1'], list(nodes.values()))
        # Once nova asked for it, the resources carry the node's UUID.
        self.assertEqual(list(nodes), [self.drv.get_available_resource(
            'compute1')['uuid']])

        self.flags(cpu_allocation_ratio=8.0, reserved_host_memory_mb=1024,
                   reserved_host_disk_mb=2048)
        tree = provider_tree.ProviderTree()
        tree.new_root('compute1', '6f0e7e7c-0000-4000-8000-00000000a11d')
        _, reqs = self.requests(self.drv.update_provider_tree, tree,
                                'compute1')
        self.assertEqual([], reqs)
        inv = tree.data('compute1').inventory
        self.assertEqual(8.0, inv['VCPU']['allocation_ratio'])
        self.assertEqual(res['vcpus'], inv['VCPU']['total'])
        self.assertEqual(1024, inv['MEMORY_MB']['reserved'])
        self.assertEqual(2, inv['DISK_GB']['reserved'])
        self.assertEqual(100, inv['DISK_GB']['total'])

    def test_list_get_info_power_cycle_reboot(self):
        # Request counts below: no event listener reads in between.
        self.drv.cleanup_host('compute1')
        inst = make_instance(1)
        before = self.drv.list_instances()
        self.assertNotIn(inst.name, before)
        self.create_partition(inst)

        names, reqs = self.requests(self.drv.list_instances)
        self.assertEqual(1, len(reqs))
        self.assertIn(inst.name, names)
        mgmt_w = pvm_lpar.LPAR.get(self.drv.adapter, uuid=self.sim.mgmt_uuid)
        self.assertNotIn(mgmt_w.name, names)

        info, reqs = self.requests(self.drv.get_info, inst)
        self.assertEqual(power_state.SHUTDOWN, info.state)
        self.assertEqual(1, len(reqs))
        self.assertTrue(reqs[0][1].endswith('/quick/PartitionState'))
        self.assertTrue(self.drv.instance_exists(inst))

        self.drv.power_on(None, inst, [])
        self.assertEqual('running', self.lpar(inst).state)
        self.assertEqual(power_state.RUNNING,
                         self.drv.get_info(inst).state)
        self.drv.power_off(inst, timeout=5, retry_interval=1)
        self.assertEqual('not activated', self.lpar(inst).state)
        # Off again: no job at all.
        _, reqs = self.requests(self.drv.power_off, inst)
        self.assertEqual(1, len(reqs))
        self.drv.power_on(None, inst, [])
        self.drv.reboot(None, inst, [], 'SOFT')
        self.assertEqual('running', self.lpar(inst).state)
        self.drv.reboot(None, inst, [], 'HARD')
        self.assertEqual('running', self.lpar(inst).state)
        self.drv.power_off(inst, timeout=0)
        # A reboot of a stopped instance starts it.
        self.drv.reboot(None, inst, [], 'HARD')
        self.assertEqual('running', self.lpar(inst).state)

    def test_power_on_failure_names_cause(self):
        inst = make_instance(1)
        self.create_partition(inst)
        self.sim.inject_fault(method='PUT', path='/do/PowerOn',
                              job_failure=True)
        err = self.assertRaises(nova_exc.InstancePowerOnFailure,
                                self.drv.power_on, None, inst, [])
        self.assertIn(inst.name, str(err))

    def test_missing_instance(self):
        inst = make_instance(2)
        self.assertFalse(self.drv.instance_exists(inst))
        self.assertRaises(nova_exc.InstanceNotFound, self.drv.get_info, inst)
        before = self.sim.inventory()
        _, reqs = self.requests(self.drv.destroy, None, inst, [])
        self.assertEqual(1, len(reqs))
        self.assertEqual(before, self.sim.inventory())

    def test_bad_flavor_fails_before_any_request(self):
        inst = make_instance(1, extra_specs={'powervm:proc_units': 'lots'})
        before = self.sim.inventory()
        self.sim.clear_request_log()
        err = self.assertRaises(exc.InvalidFlavorExtraSpec, self.drv.spawn,
                                None, inst, None, [], None, {}, [])
        self.assertIn('powervm:proc_units', str(err))
        self.assertEqual([], non_event(self.sim.request_log()))
        self.assertEqual(before, self.sim.inventory())

    def test_lifecycle_events(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        self.drv.power_on(None, inst, [])
        self.wait_events([(inst.uuid, nova_event.EVENT_LIFECYCLE_STARTED)])

        # A restart (through 'not activated') does not look like a stop.
        self.events[:] = []
        self.sim.set_partition_state(lpar_w.uuid, 'not activated')
        self.sim.set_partition_state(lpar_w.uuid, 'running')
        time.sleep(1.0)
        self.assertNotIn((inst.uuid, nova_event.EVENT_LIFECYCLE_STOPPED),
                         self.events)

        self.drv.power_off(inst)
        self.wait_events([(inst.uuid, nova_event.EVENT_LIFECYCLE_STOPPED)])

    def test_events_survive_rest_errors(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        self.drv.power_on(None, inst, [])
        self.wait_events([(inst.uuid, nova_event.EVENT_LIFECYCLE_STARTED)])
        # The handler's next state read fails: that change is lost, the
        # listener keeps going and reports the next one.
        # (It reads the partition's quick properties.)
        self.sim.inject_fault(method='GET', path=r'/LogicalPartition/[^/]+'
                              r'/quick$', status=500)
        self.sim.set_partition_state(lpar_w.uuid, 'suspended')

        def failed():
            return [r for r in self.sim.request_log()
                    if r['path'].endswith('/quick') and r['status'] == 500]
        # The next change only after that read failed (a fixed sleep let a
        # loaded machine see both changes in one event, and lose both).
        deadline = time.monotonic() + 60
        while not failed():
            self.assertLess(time.monotonic(), deadline, 'no failed read')
            time.sleep(0.05)
        self.sim.set_partition_state(lpar_w.uuid, 'not activated')
        self.wait_events([(inst.uuid, nova_event.EVENT_LIFECYCLE_STOPPED)])
        self.assertEqual(1, len(failed()))


class TestPartitionStates(SimDriverTestCase):
    """Virtual terminals and partition states the real API refuses."""

    def setUp(self):
        super().setUp()
        # Request counts below: no event handler reads in between.
        self.drv.cleanup_host('compute1')

    def jobs(self, reqs):
        return [path.rsplit('/', 1)[-1] for method, path in reqs
                if method == 'PUT' and '/do/' in path]

    def test_destroy_closes_open_vterm(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        self.drv.power_on(None, inst, [])
        self.sim.open_vterm(lpar_w.uuid)
        _, reqs = self.requests(self.drv.destroy, None, inst, [])
        self.assertIsNone(self.sim.get_object('LogicalPartition',
                                              lpar_w.uuid))
        self.assertEqual(['PowerOff', 'CloseVterm'], self.jobs(reqs))
        # The first DELETE was refused, the second went through.
        self.assertEqual(2, reqs.count(('DELETE', '/rest/api/uom/'
                                        'LogicalPartition/' + lpar_w.uuid)))

    def test_destroy_without_vterm_sends_no_close(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        _, reqs = self.requests(self.drv.destroy, None, inst, [])
        self.assertIsNone(self.sim.get_object('LogicalPartition',
                                              lpar_w.uuid))
        self.assertEqual([], self.jobs(reqs))

    def test_power_off_skips_states_that_cannot_stop(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        for state in ('suspended', 'migrating running', 'not available',
                      'hardware discovery', 'not activated'):
            self.sim.set_partition_state(lpar_w.uuid, state)
            for timeout in (0, 5):
                _, reqs = self.requests(self.drv.power_off, inst,
                                        timeout=timeout)
                self.assertEqual([], self.jobs(reqs), state)
            self.assertEqual(state, self.lpar(inst).state)

    def test_destroy_refused_before_anything_when_not_deletable(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        self.sim.set_partition_state(lpar_w.uuid, 'migrating running')
        before = self.sim.inventory()
        err, reqs = self.requests(self.assertRaises,
                                  nova_exc.InstanceTerminationFailure,
                                  self.drv.destroy, None, inst, [])
        self.assertIn('migrating running', str(err))
        self.assertEqual(['GET'], [m for m, _p in reqs])
        self.assertEqual(before, self.sim.inventory())

    def test_destroy_partition_in_error(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        self.sim.set_partition_state(lpar_w.uuid, 'error')
        self.drv.destroy(None, inst, [])
        self.assertIsNone(self.sim.get_object('LogicalPartition',
                                              lpar_w.uuid))

    def test_soft_power_off_progressive(self):
        inst = make_instance(1)
        self.create_partition(inst)
        self.sim.extra['rmc_on_boot'] = True
        self.drv.power_on(None, inst, [])
        self.assertEqual('active', self.lpar(inst).rmc_state)
        # The OS shutdown job fails: VSP normal next.
        self.sim.inject_fault(method='PUT', path='/do/PowerOff',
                              job_failure='HSCL9999 OS did not answer')
        _, reqs = self.requests(self.drv.power_off, inst, timeout=5)
        self.assertEqual(['PowerOff', 'PowerOff'], self.jobs(reqs))
        self.assertEqual('not activated', self.lpar(inst).state)

    def test_resume_state_on_host_boot(self):
        inst = make_instance(1)
        lpar_w = self.create_partition(inst)
        inst.vm_state = 'active'
        inst.power_state = power_state.RUNNING
        self.drv.resume_state_on_host_boot(None, inst, [])
        self.assertEqual('running', self.lpar(inst).state)
        # Running already, or stopped in nova: nothing sent.
        _, reqs = self.requests(self.drv.resume_state_on_host_boot, None,
                                inst, [])
        self.assertEqual([], self.jobs(reqs))
        self.drv.power_off(inst)
        inst.vm_state = 'stopped'
        inst.power_state = power_state.SHUTDOWN
        _, reqs = self.requests(self.drv.resume_state_on_host_boot, None,
                                inst, [])
        self.assertEqual([], reqs)
        self.assertEqual('not activated', self.lpar(inst).state)
        self.assertEqual(lpar_w.uuid, self.lpar(inst).uuid)

    def test_snapshot_contract_exceptions_before_mapping(self):
        self.drv.disk_dvr.capabilities['snapshot'] = True
        inst = make_instance(1)
        err, reqs = self.requests(
            self.assertRaises, nova_exc.InstanceNotFound, self.drv.snapshot,
            None, inst, 'img', mock.Mock())
        self.assertIn(inst.uuid, str(err))
        self.assertEqual(1, len(reqs))
        lpar_w = self.create_partition(inst)
        self.sim.set_partition_state(lpar_w.uuid, 'migrating running')
        _, reqs = self.requests(
            self.assertRaises, nova_exc.InstanceNotRunning,
            self.drv.snapshot, None, inst, 'img', mock.Mock())
        self.assertEqual([('GET', '/rest/api/uom/LogicalPartition/%s/quick/'
                           'PartitionState' % lpar_w.uuid)], reqs)
        self.assertEqual([], self.drv.disk_dvr.method_calls)


class TestSpawnDestroy(SimDriverTestCase):
    """Full spawn/destroy flows with the localdisk driver."""

    real_disk = True

    def spawn(self, inst, vifs=(), **kwargs):
        return self.requests(self.drv.spawn, None, inst, self.image_meta,
                             [], None, {},
                             network_model.NetworkInfo(list(vifs)), **kwargs)

    def mappings(self, inst):
        uuid = ids.pvm_uuid(inst)
        ret = []
        for vios in pvm_vios.VIOS.get(self.drv.adapter,
                                      xag=['ViosSCSIMapping']):
            for smap in vios.scsi_mappings:
                if (smap.server_adapter and
                        smap.server_adapter.lpar_slot_num and
                        smap.client_lpar_href and
                        smap.client_lpar_href.upper().endswith(uuid)):
                    ret.append(smap)
        return ret

    def _spawn_and_check(self, n_vifs, config_drive=False):
        before = self.sim.inventory()
        inst = make_instance(1, image_ref=self.image_id,
                             config_drive=config_drive)
        vifs = [sea_vif(i + 1, 100 + i) for i in range(n_vifs)]
        _, reqs = self.spawn(inst, vifs)
        lpar_w = self.lpar(inst)
        self.assertEqual('running', lpar_w.state)
        cnas = self.cnas(inst)
        self.assertEqual(sorted(v['address'].replace(':', '').upper()
                                for v in vifs),
                         sorted(c.mac.upper() for c in cnas))
        self.assertEqual(sorted(100 + i for i in range(n_vifs)),
                         sorted(c.pvid for c in cnas))
        maps = self.mappings(inst)
        media = [m for m in maps if m.backing_storage is not None and
                 m.backing_storage.schema_type == 'VirtualOpticalMedia']
        self.assertEqual(1 if config_drive else 0, len(media))
        self.assertEqual(2 if config_drive else 1, len(maps))
        if config_drive:
            base.assert_config_drive(self, self.sim, inst)
        self.assertEqual(power_state.RUNNING, self.drv.get_info(inst).state)

        self.drv.power_off(inst, timeout=5, retry_interval=1)
        self.assertEqual('not activated', self.lpar(inst).state)
        self.drv.power_on(None, inst, vifs)
        self.drv.reboot(None, inst, vifs, 'SOFT')
        self.drv.reboot(None, inst, vifs, 'HARD')
        self.assertEqual('running', self.lpar(inst).state)

        _, dreqs = self.requests(self.drv.destroy, None, inst,
                                 network_model.NetworkInfo(vifs))
        # Only the cached image is left; the image cache manager removes it
        # once no instance uses it.
        self.assertNotEqual(before, self.sim.inventory())
        self.drv.manage_image_cache(None, [])
        self.assertInventory(before)
        # Idempotent.
        self.drv.destroy(None, inst, network_model.NetworkInfo(vifs))
        self.assertInventory(before)
        return reqs, dreqs

    def test_spawn_one_vif_request_budget(self):
        # Count the operations alone: no event listener reads in between.
        self.drv.cleanup_host('compute1')
        before = self.sim.inventory()
        vifs = network_model.NetworkInfo([sea_vif(1, SEA_PVID)])
        counts = {}
        for n, label in ((1, 'image_upload'), (2, 'cached_image')):
            inst = make_instance(n, image_ref=self.image_id)
            _, reqs = self.spawn(inst, vifs)
            counts['spawn_' + label] = len(reqs)
            self.addDetail('spawn_%s_requests' % label, _text(reqs))
            _, reqs = self.requests(self.drv.get_info, inst)
            counts['get_info'] = len(reqs)
            _, reqs = self.requests(self.drv.destroy, None, inst, vifs)
            counts['destroy'] = len(reqs)
            self.addDetail('destroy_requests', _text(reqs))
        self.addDetail('request_counts', _text(counts))
        print('REQUEST COUNTS %s' % counts)
        self.drv.manage_image_cache(None, [])
        self.assertInventory(before)
        self.assertEqual(1, counts['get_info'])
        self.assertLessEqual(counts['spawn_cached_image'], 12, counts)
        self.assertLessEqual(counts['destroy'], 8, counts)

    def test_destroy_after_partition_vanished_removes_leftovers(self):
        before = self.sim.inventory()
        inst = make_instance(5, image_ref=self.image_id)
        self.spawn(inst, [sea_vif(1, 100)])
        # The partition disappears behind nova's back (e.g. removed on the
        # NovaLink command line); its mappings and adapters go with it.
        self.drv.power_off(inst)
        self.drv.adapter.delete(pvm_lpar.LPAR.schema_type,
                                root_id=ids.pvm_uuid(inst))
        self.drv.destroy(None, inst, network_model.NetworkInfo(
            [sea_vif(1, 100)]))
        self.drv.manage_image_cache(None, [])
        # The boot disk did not stay behind.
        self.assertInventory(before)

    def test_spawn_two_vifs(self):
        self._spawn_and_check(2)

    def test_spawn_config_drive(self):
        base.require_iso_tool(self)
        base.use_config_drive(self)
        self._spawn_and_check(1, config_drive=True)

    # benchmarks/harness.py uses it.
    _fake_iso = staticmethod(base.fake_iso)

    def _failed_spawn_leaves_nothing(self, warm_cache=False, **fault):
        if warm_cache:
            # The image stays cached in the volume group by design.
            warm = make_instance(4, image_ref=self.image_id)
            self.spawn(warm)
            self.drv.destroy(None, warm, [])
        inst = make_instance(3, image_ref=self.image_id)
        before = self.sim.inventory()
        self.sim.inject_fault(**fault)
        err = self.assertRaises(nova_exc.NovaException, self.spawn, inst,
                                [sea_vif(1, 100)])
        self.assertInventory(before)
        self.assertFalse(self.drv.instance_exists(inst))
        return str(err)

    def test_power_on_job_failure_leaves_nothing(self):
        msg = self._failed_spawn_leaves_nothing(
            warm_cache=True, method='PUT', path='/do/PowerOn',
            job_failure=True)
        self.assertIn('step pwr_on_vm failed', msg)
        self.assertIn('HSCL9999', msg)

    def test_disk_upload_failure_leaves_nothing(self):
        msg = self._failed_spawn_leaves_nothing(method='PUT', path='/File',
                                                status=500)
        self.assertIn('step create_disk_from_img failed', msg)


def _text(obj):
    return content.text_content(str(obj))
