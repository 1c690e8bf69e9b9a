"""nova's in-process services with the PowerVM driver and the simulator.

``PowerVMNovaTestCase`` starts what ``nova/tests/functional`` starts for its
own functional tests (API, conductor, scheduler, Placement, fake Neutron and
Cinder) plus a streaming image service, then a nova-compute service that
loads this driver by its nova.conf name (``powervm.PowerVMDriver``) and
talks to an in-process PowerVM REST simulator.  Tests act only through the
compute REST API and assert on the simulator's state.
"""
import os
import sys
import time
import types

import fixtures
from nova import context as nova_context
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import fixtures as func_fixtures
from nova.tests.functional import integrated_helpers

import nova_powervm.conf  # noqa: F401 - registers [powervm]
from nova_powervm.tests import event_threads
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import mapping_invariant
from nova_powervm.tests.functional import shared_answers

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.simulator import xmlutil as xu

COMPUTE_HOST = 'powervm-compute'
IMAGE_SIZE = 2 * 1024 * 1024
# Storage array target ports of the FC volumes (the simulator's fabric reaches
# every target unless a test calls sim.set_fc_target_reachable(wwpn, False)).
FC_TARGETS = ('500507680b2155e4', '500507680b2155e5')


def api_paste_config():
    """nova's api-paste.ini as installed by its wheel (or nova's default)."""
    path = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
    return path if os.path.exists(path) else None


class PowerVMNovaTestCase(test.TestCase,
                          integrated_helpers.PlacementInstanceHelperMixin):
    """Base class: nova + PowerVMDriver + simulator, driven through the API.

    Useful attributes: ``self.api`` (admin compute API client),
    ``self.sim`` (simulator control object), ``self.glance``
    (:class:`StreamingGlanceFixture`), ``self.cinder``, ``self.image``
    (a small raw image with pattern data), ``self.flavor``,
    ``self.start_inventory`` (``sim.inventory()`` after nova-compute
    started, before any server existed).
    """

    microversion = 'latest'
    compute_driver = 'powervm.PowerVMDriver'
    # nova's [workarounds] handle_virt_lifecycle_events.
    HANDLE_VIRT_LIFECYCLE_EVENTS = True
    # Extra [powervm] options for the compute service (e.g. password=None:
    # NovaLink's local logon).
    POWERVM_FLAGS = {}
    # Timeouts for state waits; a boot against the simulator takes ~1 s.
    WAIT_TIMEOUT = 60
    WAIT_INTERVAL = 0.05

    # Simulated managed systems (base_hosts.TwoHostsTestCase: 2).
    HOSTS = 1

    def setUp(self):
        super().setUp()
        self.useFixture(event_threads.EventPollThreadsFixture())
        self.sim_fx = self.useFixture(sim_fixture.SimulatorFixture(
            hosts=self.HOSTS))
        self.sim = self.sim_fx.sim
        pvm_flags = dict(self.sim_fx.flags_for_conf())
        pvm_flags.setdefault('disk_driver', 'localdisk')
        pvm_flags.setdefault('volume_group_name', xu.text(
            self._data_vg_element(), 'GroupName'))
        # Config drive ISOs are built here before their upload.
        pvm_flags.setdefault('image_meta_local_path', self.useFixture(
            fixtures.TempDir()).path)
        pvm_flags.setdefault('slot_map_dir', self.useFixture(
            fixtures.TempDir()).path)
        pvm_flags.setdefault('slot_map_store', 'local')
        pvm_flags.update(self.POWERVM_FLAGS)
        self.flags(group='powervm', **pvm_flags)
        self.flags(compute_driver=self.compute_driver)
        self.flags(group='workarounds', handle_virt_lifecycle_events=(
            self.HANDLE_VIRT_LIFECYCLE_EVENTS))
        paste = api_paste_config()
        if paste:
            self.flags(api_paste_config=paste, group='wsgi')

        self.policy = self.useFixture(nova_fixtures.RealPolicyFixture())
        self.neutron = self.useFixture(pvm_fixtures.SEANeutronFixture(self))
        self.glance = self.useFixture(
            pvm_fixtures.StreamingGlanceFixture(self))
        self.cinder = self.useFixture(pvm_fixtures.FCCinderFixture(self))
        self.placement = self.useFixture(
            func_fixtures.PlacementFixture()).api
        self.useFixture(nova_fixtures.AllServicesCurrent())
        self.notifier = self.useFixture(
            nova_fixtures.NotificationFixture(self))
        self.api_fixture = self.useFixture(
            nova_fixtures.OSAPIFixture(api_version='v2.1'))
        self.admin_api = self.api_fixture.admin_api
        self.admin_api.microversion = self.microversion
        self.api = self.admin_api
        self.disks = self.useFixture(
            pvm_fixtures.DiscoverDiskFixture(*self.sim_fx.sims))
        # Each driver operation leaves other partitions' mappings alone.
        self.mapping_invariant = self.useFixture(
            mapping_invariant.MappingInvariantFixture(
                self, lambda: self.sim_fx.sims))
        # batch.SHARE callers never change their answer.
        self.shared_answers = self.useFixture(
            shared_answers.SharedAnswersFixture())

        self.start_service('conductor')
        self.start_service('scheduler')
        # Runs after nova-compute stopped, before the simulator closes.
        self.addCleanup(self._log_off_driver)
        self.compute = self._start_compute(COMPUTE_HOST)
        self.start_inventory = self.sim.inventory()

        self.image = self.glance.add_image(IMAGE_SIZE)
        self.flavor = self._create_flavor(
            name='pvm.small', memory_mb=2048, vcpu=1, disk=1, ephemeral=0)

    def _log_off_driver(self):
        """Log the driver's REST session off while the simulator is up.

        Otherwise pypowervm logs off when the session is garbage collected,
        at interpreter exit, against a closed port.
        """
        compute = getattr(self, 'compute', None)
        adapter = compute and getattr(compute.manager.driver, 'adapter', None)
        if adapter is not None:
            adapter.session._logoff()

    def _data_vg_element(self):
        """The simulator's volume group for ephemeral disks.

        The first one that is neither rootvg nor the file-backed QCOW VG.
        """
        vgs = self.sim.objects('VolumeGroup')
        names = [xu.text(vg, 'GroupName') for vg in vgs]
        for name, vg in zip(names, vgs):
            if name not in ('rootvg', 'QCOW VG - default'):
                return vg
        self.fail('the simulator has no data volume group: %s' % names)

    def _data_vg_disks(self):
        """{virtual disk name: GB} of the data volume group, as stored."""
        vg = self._data_vg_element()
        return {xu.text(vd, 'DiskName'): float(xu.text(vd, 'DiskCapacity'))
                for vd in xu.findall(vg, 'VirtualDisks/VirtualDisk')}

    @staticmethod
    def _comparable(inventory):
        """A sim.inventory() snapshot without the RMC vswitch.

        NovaLink creates MGMTSWITCH at installation; the simulator's seed
        lacks it, so the driver creates it on the first boot (once per
        host), which is not state of any server.
        """
        inv = dict(inventory)
        inv['vswitches'] = {k: v for k, v in inv.get('vswitches', {}).items()
                            if v.get('name') != 'MGMTSWITCH'}
        return inv

    def _without_storage(self, inventory):
        """Comparable snapshot without volume groups and disk files."""
        return {k: v for k, v in self._comparable(inventory).items()
                if k not in ('volume_groups', 'disk_data_files')}

    def assertInventoryRestored(self, before=None):
        """The simulator holds what it held before (default: at start)."""
        self.assertEqual(
            self._comparable(before or self.start_inventory),
            self._comparable(self.sim.inventory()))

    # -- waiting -----------------------------------------------------------
    def _wait_for(self, predicate, what, timeout=None):
        """Poll ``predicate()`` until it returns a true value."""
        deadline = time.monotonic() + (timeout or self.WAIT_TIMEOUT)
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail('Timed out waiting for %s' % what)
            time.sleep(self.WAIT_INTERVAL)

    def _wait_for_status(self, server, status, task_state=None):
        """Wait until the server has ``status`` and no task in progress.

        For ERROR the fault is awaited too (nova records it just after the
        state); waiting for another status fails at once on ERROR.
        """
        last = {}

        def _check():
            srv = self.api.get_server(server['id'])
            last['server'] = srv
            if srv['status'] == 'ERROR' != status and 'fault' in srv:
                return srv      # no point waiting any longer
            if srv['status'] != status:
                return None
            if srv.get('OS-EXT-STS:task_state') != task_state:
                return None
            if status == 'ERROR' and 'fault' not in srv:
                return None
            return srv

        try:
            srv = self._wait_for(_check, 'status %s' % status)
        except self.failureException:
            srv = last.get('server', {})
        if srv.get('status') != status:
            self.fail('Server %s did not reach %s: status=%s task_state=%s '
                      'fault=%s' % (server['id'], status, srv.get('status'),
                                    srv.get('OS-EXT-STS:task_state'),
                                    srv.get('fault')))
        return srv

    def _wait_gone(self, server):
        def _gone():
            return not any(s['id'] == server['id']
                           for s in self.api.get_servers(detail=False))
        self._wait_for(_gone, 'server %s to be deleted' % server['id'])

    # -- server helpers ----------------------------------------------------
    def _boot(self, expected='ACTIVE', flavor_id=None, networks='none',
              **extra):
        """Boot a server from ``self.image`` and wait for ``expected``."""
        body = self._build_server(image_uuid=self.image['id'],
                                  flavor_id=flavor_id or self.flavor,
                                  networks=networks)
        body.update(extra)
        server = self.api.post_server({'server': body})
        return self._wait_for_status(server, expected)

    def _delete(self, server):
        self.api.delete_server(server['id'])
        self._wait_gone(server)

    def _action(self, server, body, expected):
        self.api.post_server_action(server['id'], body)
        return self._wait_for_status(server, expected)

    def _pvm_uuid(self, server):
        """The partition UUID the driver gives a server's instance."""
        from nova_powervm.virt.powervm import ids
        return ids.pvm_uuid(types.SimpleNamespace(uuid=server['id']))

    def _lpar(self, server):
        """The simulator's partition element of a server (or None)."""
        return self.sim.get_object('LogicalPartition',
                                   self._pvm_uuid(server))

    def _state(self, server):
        lpar = self._lpar(server)
        self.assertIsNotNone(lpar, 'no partition for %s' % server['id'])
        return xu.text(lpar, 'PartitionState')

    def _lpar_id(self, server):
        return xu.text(self._lpar(server), 'PartitionID')

    def _scsi_mappings(self, server):
        """vSCSI mappings that serve a server's partition.

        :returns: list of (VIOS name, storage element name, storage name).
        """
        found = []
        for vios_name, stg in self._vscsi_mappings_to(self._lpar_id(server)):
            if stg is None:
                continue
            found.append((vios_name, xu.localname(stg),
                          xu.text(stg, 'DiskName') or
                          xu.text(stg, 'VolumeName') or
                          xu.text(stg, 'UnitName') or
                          xu.text(stg, 'MediaName')))
        return found

    def _vscsi_mappings_to(self, lpar_id):
        """(VIOS name, storage element or None) of each vSCSI mapping whose
        client is the partition with ID ``lpar_id``.
        """
        for vios in self.sim.objects('VirtualIOServer'):
            for mapping in xu.findall(
                    vios, 'VirtualSCSIMappings/VirtualSCSIMapping'):
                client = xu.find(mapping, 'ClientAdapter')
                if client is None or xu.text(
                        client, 'LocalPartitionID') != lpar_id:
                    continue
                storage = xu.find(mapping, 'Storage')
                yield (xu.text(vios, 'PartitionName'),
                       storage[0] if storage is not None and len(storage)
                       else None)

    def _adapters_of(self, server):
        """Client network adapters of a server's partition."""
        lpar_id = self._lpar_id(server)
        return [cna for cna in self.sim.objects('ClientNetworkAdapter')
                if xu.text(cna, 'LocalPartitionID') == lpar_id]

    def _assert_running_with_disk(self, server):
        """The partition runs and has a virtual disk mapped through a VIOS.

        :returns: the partition element.
        """
        lpar = self._lpar(server)
        self.assertIsNotNone(lpar, 'no partition for %s' % server['id'])
        self.assertEqual('running', xu.text(lpar, 'PartitionState'))
        disks = [m for m in self._scsi_mappings(server)
                 if m[1] in ('VirtualDisk', 'PhysicalVolume', 'LogicalUnit')]
        self.assertTrue(disks, 'no disk mapped to %s: %s' % (
            server['id'], self._scsi_mappings(server)))
        return lpar

    def _disk_mappings(self, server):
        return [m for m in self._scsi_mappings(server)
                if m[1] in ('VirtualDisk', 'LogicalUnit')]

    def _volume_mappings(self, server):
        return [m for m in self._scsi_mappings(server)
                if m[1] == 'PhysicalVolume']

    # -- images and volumes -------------------------------------------------
    def _snapshot(self, server, name='snap'):
        """createImage through the API; waits for the image to be active.

        :returns: the image record of the streaming Glance fixture.
        """
        body = self.api.post_server_action(
            server['id'], {'createImage': {'name': name}})
        image_id = body['image_id']
        self._wait_for_status(server, server['status'])
        self._wait_for(
            lambda: self.glance.images[image_id]['status'] == 'active',
            'image %s to become active' % image_id)
        return self.glance.images[image_id]

    @staticmethod
    def _fc_targets():
        """Storage target WWPNs the simulator's FC ports reach."""
        return list(FC_TARGETS)

    def _attach_fc_volume(self, server, lun=1):
        """Attach a new Cinder FC volume through the API; returns its id."""
        vol_id = self.cinder.add_fc_volume(self._fc_targets(), lun=lun)
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': vol_id}})

        def _attached():
            self._assert_action_ok(server, 'attach_volume')
            return self.cinder.volumes[vol_id]['status'] == 'in-use'
        self._wait_for(_attached, 'volume %s to be attached' % vol_id)
        return vol_id

    def _detach_volume(self, server, vol_id):
        self.api.delete_server_volume(server['id'], vol_id)

        def _gone():
            self._assert_action_ok(server, 'detach_volume')
            return (self.cinder.volumes[vol_id]['status'] == 'available' and
                    vol_id not in [a['volumeId'] for a in
                                   self.api.get_server_volumes(server['id'])])
        self._wait_for(_gone, 'volume %s to be detached' % vol_id)

    def _assert_action_ok(self, server, action):
        """Fail at once if nova recorded ``action`` on the server as failed.

        (A failed attach is rolled back and would otherwise look like one
        still in progress.)
        """
        for act in self.api.get_instance_actions(server['id']):
            if act['action'] == action and act.get('message') == 'Error':
                details = self.api.api_get(
                    '/servers/%s/os-instance-actions/%s' % (
                        server['id'], act['request_id'])).body
                events = details['instanceAction'].get('events', [])
                self.fail('%s failed: %s' % (action, [
                    (e['event'], e.get('result'),
                     (e.get('traceback') or '')[-600:]) for e in events]))

    def _describe_volume_mapping(self, server):
        maps = self._volume_mappings(server)
        return 'vSCSI: %s' % ', '.join(
            '%s on %s' % (m[2], m[0]) for m in maps) if maps else (
            'no vSCSI mapping')

    @staticmethod
    def _inventory_diff(before, after):
        """Keys of two sim.inventory() snapshots that differ."""
        return sorted(k for k in set(before) | set(after)
                      if before.get(k) != after.get(k))

    def _job_ops(self):
        """Operations of the jobs run since the request log was cleared."""
        ops = []
        for req in self.sim.request_log():
            if req['method'] == 'PUT' and '/do/' in req['path']:
                ops.append(req['path'].rsplit('/do/', 1)[1].split('?')[0])
        return ops

    @staticmethod
    def _uuid_of(element):
        return xu.text(element, 'PartitionUUID') or xu.atom_id(element)

    def _run_power_sync(self):
        """Run nova-compute's periodic power state sync once.

        After one event-feed round trip: the driver's power states are
        that old at most (state_cache.py).
        """
        handler = self.compute.manager.driver.event_handler
        if handler is not None:
            self.assertTrue(handler.cache.wait_for_poll(30))
        ctx = nova_context.get_admin_context()
        self.compute.manager._sync_power_states(ctx)
