"""Reliability against the REST simulator beyond single faults.

- etag races: 16 operations at once on one VIOS (and its volume group) all
  succeed; injected HTTP 412s on updates are retried and nothing is lost;
- REST server restart while the driver runs: the next operation succeeds
  and the event listener reconnects and keeps delivering events;
- bad input: a clear nova exception, and nothing created;
- no REST or admin password in the logs; no high-severity bandit finding.

(Every single-request fault, 412 and session expiry of each flow is in
test_fault_matrix.)
"""
# nova's concurrency set-up (eventlet monkey patching) must come before
# anything imports sockets or urllib3, as in nova's own functional tests.
from nova import monkey_patch
monkey_patch.patch()

import concurrent.futures  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import fixtures  # noqa: E402
from nova import exception as nova_exc  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova import objects  # noqa: E402
from nova.virt import event as nova_event  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402
from pypowervm.tasks import scsi_mapper as tsk_map  # noqa: E402
from pypowervm.wrappers import virtual_io_server as pvm_vios  # noqa: E402
import testtools  # noqa: E402
from testtools import content  # noqa: E402

from nova_powervm.tests.functional import base  # noqa: E402
from nova_powervm.tests.functional import test_lifecycle as lc  # noqa: E402
from nova_powervm.tests.functional import test_volumes as tv  # noqa: E402
from nova_powervm.virt.powervm import batch  # noqa: E402
from nova_powervm.virt.powervm.disk import driver as disk_dvr  # noqa: E402
from nova_powervm.virt.powervm import event as pvm_event  # noqa: E402
from nova_powervm.virt.powervm import exception as exc  # noqa: E402
from nova_powervm.virt.powervm import ids  # noqa: E402
from nova_powervm.virt.powervm import vm  # noqa: E402

CONCURRENCY = 16


def instance(image_ref=None, config_drive=False, **kwargs):
    """An instance with a random UUID (distinct disk and partition names)."""
    inst = lc.make_instance(1, image_ref=image_ref,
                            config_drive=config_drive, **kwargs)
    inst.uuid = uuidutils.generate_uuid()
    # instance.name (the partition name) comes from the id.
    inst.id = random.randint(100, 10 ** 7)
    inst.display_name = inst.hostname = 'vm-%s' % inst.uuid[:8]
    return inst


def run_all(fn, items):
    """``fn(item)`` for every item at once; the first error is raised."""
    with concurrent.futures.ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


class TestEtagRaces(base.ClassSimTestCase):
    """Concurrent operations that all update the same VIOS and VG."""

    def setUp(self):
        super().setUp()
        # Requests overlap for real: each takes at least 2 ms.
        self.sim.set_latency(2)
        # The faults below are placed on the n-th volume group POST of
        # spawns that share POSTs four copies at a time: copies are never
        # "fast" here (test_lost_answer_of_a_fast_batch lifts this).
        self.useFixture(fixtures.MockPatchObject(batch, 'FAST_COPY_S', 0))

    def vios_mappings(self, insts):
        """{instance uuid: number of SCSI mappings on any VIOS}."""
        vioses = pvm_vios.VIOS.get(self.drv.adapter, xag=['ViosSCSIMapping'])
        return {inst.uuid: sum(len(tsk_map.find_maps(
            v.scsi_mappings, ids.pvm_uuid(inst))) for v in vioses)
            for inst in insts}

    def spawn(self, inst):
        self.drv.spawn(None, inst, self.image_meta, [], None, {},
                       network_model.NetworkInfo([]))

    def _cached_image_spawns(self):
        """Cache the image (one spawn + destroy); CONCURRENCY instances.

        :return: (inventory before, inventory with the image cached, the
            instances to spawn: they only copy the cached image)
        """
        before = self.sim.inventory()
        warm = instance(self.image_id)
        self.spawn(warm)
        self.destroy(warm)
        return (before, self.sim.inventory(),
                [instance(self.image_id) for _i in range(CONCURRENCY)])

    def destroy(self, inst):
        self.drv.destroy(None, inst, network_model.NetworkInfo([]))

    def _spawn_destroy_all(self, config_drive=False):
        before = self.sim.inventory()
        insts = [instance(self.image_id, config_drive=config_drive)
                 for _i in range(CONCURRENCY)]
        run_all(self.spawn, insts)
        for inst in insts:
            self.assertEqual('running', vm.get_instance_wrapper(
                self.drv.adapter, inst).state)
        # Nothing lost: every boot disk (and config drive) is mapped.
        want = 2 if config_drive else 1
        self.assertEqual({i.uuid: want for i in insts},
                         self.vios_mappings(insts))
        vg = self.drv.disk_dvr._get_vg()
        for inst in insts:
            name = self.drv.disk_dvr.get_disk_name(
                disk_dvr.DiskType.BOOT, inst, short=True)
            self.assertIn(name, [vd.name for vd in vg.virtual_disks])
        run_all(self.destroy, insts)
        self.drv.manage_image_cache(None, [])
        self.assertInventory(before)
        return [r for r in self.sim.request_log() if r['status'] == 412]

    def test_16_concurrent_spawns_and_destroys(self):
        conflicts = self._spawn_destroy_all()
        self.addDetail('etag_conflicts',
                       content.text_content(str(len(conflicts))))

    def test_16_concurrent_spawns_with_config_drive(self):
        base.require_iso_tool(self)
        self._spawn_destroy_all(config_drive=True)

    def test_injected_412s_during_concurrent_spawns(self):
        # Every third VIOS or VG update is refused with 412 (twelve times);
        # each is retried on a fresh read and nothing is lost.
        self.sim.inject_fault(method='POST', path='VirtualIOServer',
                              status=412, nth=3, times=12)
        conflicts = self._spawn_destroy_all()
        self.assertGreaterEqual(len(conflicts), 12)

    def test_concurrent_spawns_with_failures(self):
        # Grouped VIOS/VG updates must fail only the spawn whose change
        # failed: every spawn ends complete or leaves nothing.
        before, cached, insts = self._cached_image_spawns()
        for path, nth in (('VirtualIOServer/', 3), ('VolumeGroup/', 5),
                          ('/do/PowerOn', 7)):
            self.sim.inject_fault(method='POST' if 'do' not in path
                                  else 'PUT', path=path, nth=nth,
                                  status=500)

        def spawn(inst):
            try:
                self.spawn(inst)
            except nova_exc.NovaException:
                return False
            return True
        ok = run_all(spawn, insts)
        self.sim.clear_faults()
        self.assertIn(False, ok)
        self.assertIn(True, ok)
        good = [i for i, res in zip(insts, ok) if res]
        for inst, res in zip(insts, ok):
            self.assertEqual(res, self.drv.instance_exists(inst))
        self.assertEqual({i.uuid: 1 for i in good}, self.vios_mappings(good))
        run_all(self.destroy, good)
        self.assertInventory(cached)
        self.drv.manage_image_cache(None, [])
        self.assertInventory(before)

    def test_concurrent_spawns_with_lost_answers(self):
        # Grouped VIOS/VG updates are made and then their answers lost
        # (HTTP 500, dropped connection): the changes are found on a fresh
        # read, not made twice, and every spawn completes.
        before, cached, insts = self._cached_image_spawns()
        for path, nth, kwargs in (
                ('VirtualIOServer/', 2, {'status': 500}),
                ('VirtualIOServer/', 4, {'drop': True}),
                ('VolumeGroup/', 2, {'drop': True}),
                ('VolumeGroup/', 4, {'status': 500})):
            self.sim.inject_fault(method='POST', path=path, nth=nth,
                                  after_commit=True, **kwargs)
        self._spawn_all_despite_faults(before, cached, insts)

    def _spawn_all_despite_faults(self, before, cached, insts):
        """Spawn ``insts`` with the injected faults: all fire, all complete
        (one disk and one mapping each), then destroy them all.
        """
        run_all(self.spawn, insts)
        fired = [f for f in self.sim.faults.list()]
        self.sim.clear_faults()
        self.assertEqual([], fired, 'a fault did not fire')
        for inst in insts:
            self.assertEqual('running', vm.get_instance_wrapper(
                self.drv.adapter, inst).state)
        self.assertEqual({i.uuid: 1 for i in insts},
                         self.vios_mappings(insts))
        names = [vd.name for vd in self.drv.disk_dvr._get_vg().virtual_disks]
        self.assertEqual(len(names), len(set(names)))
        for inst in insts:
            self.assertIn(self.drv.disk_dvr.get_disk_name(
                disk_dvr.DiskType.BOOT, inst, short=True), names)
        run_all(self.destroy, insts)
        self.assertInventory(cached)
        self.drv.manage_image_cache(None, [])
        self.assertInventory(before)

    def test_lost_answer_of_a_fast_batch(self):
        # Copies are fast (the warm-up's POST measured it): the first volume
        # group POST of the burst carries up to 16 copies, is made and its
        # answer dropped; each change is found on a fresh read.
        self.useFixture(fixtures.MockPatchObject(batch, 'FAST_COPY_S', 60))
        before, cached, insts = self._cached_image_spawns()
        self.sim.inject_fault(method='POST', path='VolumeGroup/', nth=1,
                              after_commit=True, drop=True)
        self._spawn_all_despite_faults(before, cached, insts)

    def test_16_concurrent_volume_attaches(self):
        insts = []
        for n in range(CONCURRENCY):
            inst = tv._instance(n + 1)
            vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
            insts.append(inst)
        before = self.sim.inventory()
        infos = {i.uuid: tv._conn_info('vol-%d' % n, n + 1)
                 for n, i in enumerate(insts)}
        # A 412 on some mapping updates on top of the real races.
        self.sim.inject_fault(method='POST', path='VirtualIOServer/',
                              status=412, nth=5, times=4)
        run_all(lambda i: self.drv.attach_volume(
            None, infos[i.uuid], i, '/dev/sdb'), insts)
        nvios = len(self.sim.vios_uuids)
        self.assertEqual({i.uuid: nvios for i in insts},
                         self.vios_mappings(insts))
        run_all(lambda i: self.drv.detach_volume(
            None, infos[i.uuid], i, '/dev/sdb'), insts)
        self.assertInventory(before)


class TestKeptVioses(base.ClassSimTestCase):
    """VIOS wrappers kept between operations never hide another's change.

    A spawn starts from the VIOSes the previous one left (batch.give_back),
    a destroy from what the last change returned, each refreshed with a
    conditional GET; another client (a second nova-compute: its own
    session) changes the VIOS in between.
    """

    def setUp(self):
        super().setUp()
        self.other = self.new_driver()

    def spawn(self, drv, inst):
        drv.spawn(None, inst, self.image_meta, [], None, {},
                  network_model.NetworkInfo([]))
        inst.task_state = None

    def mapped(self, *insts):
        """The instances that have a SCSI mapping on some VIOS."""
        vioses = pvm_vios.VIOS.get(self.drv.adapter,
                                   xag=['ViosSCSIMapping'])
        return {inst.uuid for inst in insts for v in vioses
                if tsk_map.find_maps(v.scsi_mappings, ids.pvm_uuid(inst))}

    def vios_reads(self):
        """Status of each GET of one VIOS (200: read, 304: kept)."""
        return [r['status'] for r in base.non_event(self.sim.request_log())
                if r['method'] == 'GET' and
                '/VirtualIOServer/' in r['path'] and
                r['path'].count('/') == 5]

    def test_other_clients_changes_kept(self):
        insts = [instance(self.image_id) for _i in range(4)]
        first, second, third, fourth = insts
        self.spawn(self.drv, first)
        self.sim.clear_request_log()
        self.spawn(self.drv, second)
        # Nothing changed the VIOS since the first spawn: 304, no body.
        self.assertEqual([304], self.vios_reads())
        # Another client maps a disk of its own to the same VIOS.
        self.spawn(self.other, third)
        self.sim.clear_request_log()
        self.spawn(self.drv, fourth)
        # The kept VIOS was stale: read again, the mapping added to that.
        self.assertEqual([200], self.vios_reads())
        self.assertEqual({i.uuid for i in insts}, self.mapped(*insts))
        # A destroy from the answer of the last spawn's change, the other
        # client's destroy in between.
        self.other.destroy(None, third, network_model.NetworkInfo([]))
        self.sim.clear_request_log()
        self.drv.destroy(None, first, network_model.NetworkInfo([]))
        self.assertEqual([200], self.vios_reads())
        self.assertEqual({second.uuid, fourth.uuid}, self.mapped(*insts))
        self.sim.clear_request_log()
        self.drv.destroy(None, second, network_model.NetworkInfo([]))
        self.assertEqual([304], self.vios_reads())
        self.assertEqual({fourth.uuid}, self.mapped(*insts))
        self.drv.destroy(None, fourth, network_model.NetworkInfo([]))
        self.assertEqual(set(), self.mapped(*insts))

    def vios_gets(self):
        """{'feed'/'entry': statuses of the GETs of the VIOS feed/a VIOS}."""
        got = {'feed': [], 'entry': []}
        for r in base.non_event(self.sim.request_log()):
            path = r['path'].split('?')[0].rstrip('/').split('/')
            if r['method'] == 'GET' and 'VirtualIOServer' in path[-2:]:
                kind = 'feed' if path[-1] == 'VirtualIOServer' else 'entry'
                got[kind].append(r['status'])
        return got

    def test_concurrent_spawns_read_no_vios_feed(self):
        # The VIOS kept by a spawn; 8 spawns at once: one takes it, the
        # others' mappings join its group commits or start from the slot's
        # latest answer (vios_feed.FeedTask lazy): no feed read.
        self.sim.set_latency(2)
        self.spawn(self.drv, instance(self.image_id))
        insts = [instance(self.image_id) for _i in range(8)]
        self.sim.clear_request_log()
        run_all(lambda inst: self.spawn(self.drv, inst), insts)
        gets = self.vios_gets()
        self.addDetail('vios_gets', content.text_content(str(gets)))
        self.assertEqual([], gets['feed'])
        # Before: a feed GET per spawn but the first (and 2 VIOS GETs);
        # now a conditional GET (304, no body) per batch that had no base.
        self.assertLess(len(gets['entry']), len(insts))
        self.assertEqual({i.uuid for i in insts}, self.mapped(*insts))


class TestRestServerRestart(base.ClassSimTestCase):
    """The REST server restarts under a running driver."""

    event_listener = True

    def setUp(self):
        self.useFixture(fixtures.MockPatchObject(pvm_event,
                                                 'STOP_EVENT_DELAY', 0.2))
        super().setUp()
        self.events = []
        self.drv.register_event_listener(self._on_event)

    def _on_event(self, evt):
        self.events.append((evt.get_instance_uuid(), evt.get_transition()))

    def wait_event(self, expected, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if expected in self.events:
                return
            time.sleep(0.05)
        self.fail('event %s not seen; got %s' % (expected, self.events))

    def _cycle(self, inst):
        """Stop and start; both reach nova as events."""
        self.events[:] = []
        self.drv.power_off(inst)
        self.assertEqual('not activated', vm.get_instance_wrapper(
            self.drv.adapter, inst).state)
        self.wait_event((inst.uuid, nova_event.EVENT_LIFECYCLE_STOPPED))
        self.drv.power_on(None, inst, [])
        self.wait_event((inst.uuid, nova_event.EVENT_LIFECYCLE_STARTED))

    def test_restart_keeping_sessions(self):
        inst = instance()
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        self.drv.event_handler.remember(inst)
        self._cycle(inst)
        self.sim.restart()
        self._cycle(inst)

    def test_restart_losing_sessions(self):
        # A real restart forgets every session: driver and listener log on
        # again.
        inst = instance()
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        self.drv.event_handler.remember(inst)
        self._cycle(inst)
        logons = self.sim.counters()['logons']
        self.sim.stop()
        self.sim.expire_sessions()
        time.sleep(0.5)
        self.sim.start()
        self._cycle(inst)
        self.assertGreater(self.sim.counters()['logons'], logons)
        # And a state change behind the driver's back is reported too.
        self.events[:] = []
        self.sim.set_partition_state(ids.pvm_uuid(inst), 'not activated')
        self.wait_event((inst.uuid, nova_event.EVENT_LIFECYCLE_STOPPED))


class TestBadInput(base.ClassSimTestCase):
    """Bad input: a clear error naming it, and nothing created."""

    def assertRejected(self, exc_class, fn, *args, **kwargs):
        """``fn`` raises ``exc_class`` with no mutating request sent."""
        words = kwargs.pop('names', ())
        before = self.sim.inventory()
        self.sim.clear_request_log()
        err = self.assertRaises(exc_class, fn, *args, **kwargs)
        self.assertIsInstance(err, nova_exc.NovaException)
        for word in words:
            self.assertIn(word, str(err))
        mutating = [r for r in self.requests()
                    if r[0] in ('PUT', 'POST', 'DELETE') and
                    not r[1].endswith('/web/Logon')]
        self.assertEqual([], mutating, 'changed something: %s' % err)
        self.assertInventory(before)
        return err

    def spawn(self, inst, image_meta=None, **kwargs):
        self.drv.spawn(None, inst, image_meta or self.image_meta, [], None,
                       {}, network_model.NetworkInfo([]), **kwargs)

    def test_invalid_extra_specs(self):
        table = [
            ('powervm:proc_units', 'lots'),
            ('powervm:dedicated_proc', 'maybe'),
            ('powervm:min_mem', '-1'),
            ('powervm:max_vcpu', '0'),
            ('powervm:uncapped', 'perhaps'),
            ('powervm:srr_capability', 'sometimes'),
            ('powervm:min_vcpu', '2'),
            ('powervm:max_mem', '256'),
        ]
        # (Unknown powervm: keys are ignored with a warning, by design.)
        for key, value in table:
            with self.subTest(key=key):
                inst = instance(self.image_id, extra_specs={key: value})
                self.assertRejected(exc.InvalidFlavorExtraSpec, self.spawn,
                                    inst, names=(key,))

    def test_unknown_image_disk_format(self):
        for fmt in ('vmdk', 'vhd', 'iso', 'ami'):
            with self.subTest(disk_format=fmt):
                img = self.glance.add_image(base.IMAGE_SIZE,
                                            name='img-%s' % fmt)
                img['disk_format'] = fmt
                meta = objects.ImageMeta.from_dict(img)
                inst = instance(img['id'])
                self.assertRejected(nova_exc.ImageUnacceptable, self.spawn,
                                    inst, image_meta=meta, names=(fmt,))

    def test_flavor_larger_than_host(self):
        host = self.drv.host_wrapper
        cases = [{'memory_mb': host.memory_total * 2},
                 {'vcpus': int(host.proc_units_configurable) * 4 + 64}]
        for flavor in cases:
            with self.subTest(**flavor):
                inst = instance(self.image_id, **flavor)
                self.assertRejected(nova_exc.ComputeResourcesUnavailable,
                                    self.spawn, inst, names=tuple(flavor))

    def test_missing_volume_group(self):
        self.flags(group='powervm', volume_group_name='no_such_vg')
        self.assertRejected(exc.VolumeGroupNotFound, self.new_driver,
                            names=('no_such_vg',))

    def test_missing_cluster(self):
        self.flags(group='powervm', disk_driver='ssp',
                   cluster_name='no_such_cluster')
        self.assertRejected(exc.ClusterNotFound, self.new_driver,
                            names=('no_such_cluster',))

    def test_volume_targets_unreachable(self):
        inst = tv._instance(1)
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        for wwpn in tv.TARGETS:
            self.sim.set_fc_target_reachable(wwpn=wwpn, reachable=False)
        before = self.sim.inventory()
        err = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None,
                                tv._conn_info('vol-x', 1), inst, '/dev/sdb')
        self.assertIn('vol-x', str(err))
        self.assertInventory(before)

    def test_volume_wwpns_match_no_fc_port(self):
        # Targets the storage never zoned to this host's FC ports.
        inst = tv._instance(1)
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        info = tv._conn_info('vol-y', 1)
        info['data']['target_wwn'] = ['c0507609a1b2c3d4']
        info['data']['initiator_target_map'] = {
            'c0507609ffffff00': ['c0507609a1b2c3d4']}
        self.sim.set_fc_target_reachable(wwpn='c0507609a1b2c3d4',
                                         reachable=False)
        before = self.sim.inventory()
        err = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None, info, inst,
                                '/dev/sdb')
        self.assertIn('vol-y', str(err))
        self.assertInventory(before)


SECRET = 'Rest-Pa55w0rd-9f3c71'
ADMIN_PASS = 'Admin-Pa55-4be1d0'


class TestPasswordNotLogged(base.ClassSimTestCase):
    """Neither the REST password nor an admin password reaches the logs."""

    sim_kwargs = dict(base.ClassSimTestCase.sim_kwargs, password=SECRET)

    def setUp(self):
        super().setUp()
        # Everything, DEBUG included, from every logger (after nova's own
        # logging fixture), from a new driver's logon on.
        self.logs = self.useFixture(fixtures.FakeLogger(level=10))
        self.drv = self.new_driver()

    def assertNotLogged(self, *secrets):
        text = self.logs.output
        self.assertIn('PowerVM REST API', text)   # the capture works
        for secret in secrets:
            self.assertNotIn(secret, text)

    def test_spawn_destroy_and_failures(self):
        base.require_iso_tool(self)
        inst = instance(self.image_id, config_drive=True)
        vifs = network_model.NetworkInfo([lc.sea_vif(1, 100)])
        self.drv.spawn(None, inst, self.image_meta, [], ADMIN_PASS, {},
                       vifs)
        # Re-logon after an expired session, then a failure: pypowervm's
        # log helper dumps the recent requests.
        self.sim.expire_sessions()
        self.sim.inject_fault(method='PUT', path='/do/PowerOff',
                              job_failure=True)
        self.assertRaises(nova_exc.InstancePowerOffFailure,
                          self.drv.power_off, inst)
        # (A VIOS update whose answer may be lost is tried once more.)
        self.sim.inject_fault(method='POST', path='VirtualIOServer',
                              status=500, times=2)
        self.assertRaises(nova_exc.NovaException, self.drv.destroy, None,
                          inst, vifs)
        self.drv.destroy(None, inst, vifs)
        self.assertFalse(self.drv.instance_exists(inst))
        self.assertNotLogged(SECRET, ADMIN_PASS)

    def test_failed_logon(self):
        wrong = 'Wrong-Pa55w0rd-0d8e2a'
        self.flags(group='powervm', password=wrong)
        err = self.assertRaises(exc.RestAuthenticationFailed,
                                self.new_driver)
        for secret in (wrong, SECRET):
            self.assertNotIn(secret, str(err))
        self.assertNotLogged(wrong, SECRET)


class TestBandit(testtools.TestCase):
    """``bandit -r nova_powervm -x nova_powervm/tests``: no high severity."""

    def test_no_high_severity_findings(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))))
        proc = subprocess.run(  # nosec B603 - fixed argv, no shell
            [sys.executable, '-m', 'bandit', '-q', '-r', 'nova_powervm',
             '-x', 'nova_powervm/tests', '-f', 'json'],
            cwd=root, capture_output=True, text=True, timeout=300)
        report = json.loads(proc.stdout)
        high = ['%(filename)s:%(line_number)s %(test_id)s %(issue_text)s'
                % r for r in report['results']
                if r['issue_severity'] == 'HIGH']
        self.assertEqual([], high)
        self.assertGreater(report['metrics']['_totals']['loc'], 1000)
