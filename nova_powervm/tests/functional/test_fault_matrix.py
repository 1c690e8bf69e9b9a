"""Fault matrix: every REST request of every flow fails once.

For each flow the requests it makes are recorded once (per test class);
then one test per request index k reruns the flow with the simulator
answering HTTP 500 to the k-th request, or dropping its connection, and
one test per job j with the j-th job failing.  After each run:

- the flow raised a nova exception whose message names what failed (the
  HTTP status or method and the request's resource, or the failed job's
  message), and the simulator's inventory equals the inventory before the
  flow (destroy and detach: a retry completes them);
- or, when the driver tolerated the fault (e.g. a failed job clean-up), the
  flow's full result is there.

Ambiguous writes: at every mutating request (PUT, POST, DELETE, job
submissions and job deletes) the simulator makes the change and then
loses the answer (``after_commit``): an HTTP 500 instead of the answer
(``test_ambiguous_http500_at_write_NN``), or no answer at all
(``test_ambiguous_loss_at_write_NN``: the connection dropped at odd NN, a
client timeout at even NN).  The flow must converge exactly as above:
its full result, or the inventory before it (destroy and detach: a retry
completes them), nothing leaked and nothing duplicated.

Two more dimensions must not fail the flow at all: every session expires
just before request k (the driver logs on again), and HTTP 412 answers
update (POST) k (re-read and retried).

Test names identify the cell: ``<FlowClass>.test_http500_at_request_07``,
``test_connection_drop_at_request_07``, ``test_job_failure_at_job_1``,
``test_session_expiry_at_request_07``, ``test_http412_at_update_2``,
``test_ambiguous_loss_at_write_3``.  ``test_recorded_requests`` fails if
the flow grew beyond the generated matrix (raise ``max_requests``/
``max_jobs``/``max_updates``/``max_writes`` then).
"""
# nova's concurrency set-up (eventlet monkey patching) must come before
# anything imports sockets or urllib3, as in nova's own functional tests.
from nova import monkey_patch
monkey_patch.patch()

import re  # noqa: E402
from unittest import mock  # noqa: E402

import fixtures  # noqa: E402

from nova import exception as nova_exc  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova import objects  # noqa: E402
from pypowervm.wrappers import virtual_io_server as pvm_vios  # noqa: E402
from testtools import content  # noqa: E402

from nova_powervm import conf as cfg  # noqa: E402
from nova_powervm.simulator import xmlutil as xu  # noqa: E402
from nova_powervm.tests.functional import base  # noqa: E402
from nova_powervm.tests.functional import test_lifecycle as lc  # noqa: E402
from nova_powervm.tests.functional import test_volumes as tv  # noqa: E402
from nova_powervm.virt.powervm.disk import localdisk  # noqa: E402
from nova_powervm.virt.powervm import driver_volume  # noqa: E402
from nova_powervm.virt.powervm import vm  # noqa: E402
from nova_powervm.virt.powervm.volume import npiv  # noqa: E402

CONF = cfg.CONF
JOB_PATH = re.compile(r'/do/[^/]+$')
# Timeout cells: the client's timeout and how long the simulator holds
# the answer of the request it has already served.  Every such cell waits
# out the timeout (about 75 cells); a request of these flows takes
# milliseconds, so 0.5 s still leaves a wide margin on a loaded machine.
AMBIGUOUS_TIMEOUT_S = 0.5
AMBIGUOUS_HOLD_S = 0.75


def _is_job(method, path):
    return method == 'PUT' and bool(JOB_PATH.search(path))


def _is_write(method, path):
    """A request that changes something (a logon excepted)."""
    return (method in ('PUT', 'POST', 'DELETE') and
            not path.endswith('/web/Logon'))


def _resource(path):
    """The resource type a REST path names last (e.g. VirtualIOServer)."""
    parts = [p for p in path.split('/') if p and p not in ('rest', 'api')]
    types = [p for p in parts[1:] if re.match(r'^[A-Za-z]+$', p) and
             p not in ('do', 'contents', 'quick')]
    return types[-1] if types else parts[-1]


class _FaultMatrix(base.ClassSimTestCase):
    """One flow; subclasses define prepare/run_flow (and checks)."""

    # Every cell starts a driver on a freshly reset host: nothing to scrub
    # (about 30 ms of CPU of a 200 ms cell).
    startup_scrub = False
    # Size of the generated matrix (see test_recorded_requests).
    max_requests = 0
    max_jobs = 0
    max_updates = 0
    max_writes = 0
    _recorded = None

    # -- flow hooks --------------------------------------------------------

    def prepare(self):
        """Set up what the flow needs (no faults armed); return a state."""
        return {}

    def run_flow(self, state):
        raise NotImplementedError()

    def check_failed(self, state, before, err):
        """After the flow raised: nothing is left over."""
        self.assertInventory(before)

    def check_succeeded(self, state, before):
        """After the flow tolerated the fault: its full result is there."""
        raise NotImplementedError()

    # -- machinery ---------------------------------------------------------

    def fresh(self):
        """Back to a freshly started host and driver."""
        self.sim.clear_faults()
        self.sim.reset()
        self._clear_caches()
        self.drv = self.new_driver()

    def recorded(self):
        """(method, path) of the requests the flow makes, recorded once."""
        cls = type(self)
        if cls.__dict__.get('_recorded') is None:
            state = self.prepare()
            self.sim.clear_request_log()
            self.run_flow(state)
            cls._recorded = self.requests()
            self.fresh()
        return cls._recorded

    def _check_recorded(self):
        reqs = self.recorded()
        self.addDetail('requests', content.text_content(
            '\n'.join('%2d %s %s' % (i + 1, m, p)
                      for i, (m, p) in enumerate(reqs))))
        for kind, bound in (('request', self.max_requests),
                            ('job', self.max_jobs),
                            ('update', self.max_updates),
                            ('write', self.max_writes)):
            self.assertLessEqual(
                len(_select(kind, reqs)), bound,
                'the flow makes more %ss than the matrix covers: raise '
                'max_%ss' % (kind, kind))
        self.assertTrue(reqs)

    def _arm(self, fault, k):
        """Arm ``fault`` for the k-th request (or job, or update)."""
        if fault == 'http500':
            self.sim.inject_fault(nth=k, status=500)
        elif fault == 'drop':
            self.sim.inject_fault(nth=k, drop=True)
        elif fault == 'job':
            self.sim.inject_fault(method='PUT', path=JOB_PATH.pattern,
                                  nth=k, job_failure=True)
        elif fault == 'http412':
            self.sim.inject_fault(method='POST', nth=k, status=412)
        elif fault == 'expiry':
            self._expire_sessions_at(k)
        elif fault in ('amb500', 'amb_loss', 'write500'):
            self._arm_ambiguous(fault, k)

    def _arm_ambiguous(self, fault, k):
        """The k-th write is made, then its answer lost (write500: the
        k-th write fails with HTTP 500 before it is made).
        """
        reqs = self.recorded()
        pos = [i for i, r in enumerate(reqs) if _is_write(*r)][k - 1]
        method = reqs[pos][0]
        # The fault counts the requests of that method.
        nth = [m for m, _p in reqs[:pos + 1]].count(method)
        kwargs = {'method': method, 'nth': nth,
                  'after_commit': fault != 'write500'}
        if fault in ('amb500', 'write500'):
            kwargs['status'] = 500
        elif k % 2:
            kwargs['drop'] = True
        else:
            self.drv.adapter.session.timeout = AMBIGUOUS_TIMEOUT_S
            kwargs['delay_s'] = AMBIGUOUS_HOLD_S
        self.sim.inject_fault(**kwargs)

    def _expire_sessions_at(self, k):
        """All sessions expire just before the k-th request is served."""
        faults = self.sim.faults
        orig = faults.match
        seen = [0]

        def match(method, target):
            seen[0] += 1
            if seen[0] == k:
                self.sim.expire_sessions()
            return orig(method, target)
        faults.match = match
        self.addCleanup(vars(faults).pop, 'match', None)

    def _fault_case(self, fault, k):
        kind = KINDS[fault]
        total = len(_select(kind, self.recorded()))
        # A cell beyond the flow would test nothing: the bound is exact.
        self.assertLessEqual(k, total, 'the flow makes only %d %ss: lower '
                             'max_%ss' % (total, kind, kind))
        state = self.prepare()
        before = self.sim.inventory()
        self.sim.clear_request_log()
        logons = self.sim.counters()['logons']
        self._arm(fault, k)
        err = None
        try:
            self.run_flow(state)
        except Exception as e:
            err = e
        self.drv.adapter.session.timeout = CONF.powervm.rest_timeout
        self.sim.clear_faults()
        vars(self.sim.faults).pop('match', None)
        log = base.non_event(self.sim.request_log())
        hits = [r for r in log if _select(kind, [(r['method'], r['path'])])]
        self.assertGreaterEqual(len(hits), k, 'the fault never fired')
        hit = hits[k - 1]
        label = '%s: %s at %s #%d (%s %s)' % (
            type(self).__name__, fault, kind, k, hit['method'], hit['path'])
        self.addDetail('fault', content.text_content(label))
        self.addDetail('requests', content.text_content('\n'.join(
            '%2d %s %s %s' % (i + 1, r['method'], r['path'], r['status'])
            for i, r in enumerate(log))))
        if err is not None:
            self.addDetail('error', content.text_content(
                '%s: %s' % (type(err).__name__, err)))
        if fault in ('http412', 'expiry'):
            # Retried (new etag / new session): the flow completes.
            if err is not None:
                self.fail('%s: the flow failed: %s: %s' % (
                    label, type(err).__name__, err))
            if fault == 'expiry':
                self.assertEqual(401, hit['status'], label)
                self.assertEqual(logons + 1, self.sim.counters()['logons'],
                                 '%s: one new logon expected' % label)
            self.check_succeeded(state, before)
            return
        if err is None:
            self.check_succeeded(state, before)
            return
        if not isinstance(err, nova_exc.NovaException):
            self.fail('%s: raised %s, not a nova exception: %s' % (
                label, type(err).__name__, err))
        self.assert_names_failure(label, str(err), hit, fault)
        self.check_failed(state, before, err)

    def assert_names_failure(self, label, msg, hit, fault):
        if fault == 'job':
            wanted = ['HSCL9999']
        elif fault in ('drop', 'amb_loss'):
            wanted = [hit['method'], _resource(hit['path'])]
        else:
            wanted = ['500', _resource(hit['path'])]
        missing = [w for w in wanted if w not in msg]
        if missing:
            self.fail('%s: the error does not name what failed (%s): %s' % (
                label, ', '.join(missing), msg))

    def _image_disks(self):
        """Names of the cached image disks (VG disks or SSP image LUs)."""
        if self.disk_driver == 'ssp':
            return [xu.text(lu, 'UnitName')
                    for lu in self.sim.objects('LogicalUnit')
                    if xu.text(lu, 'LogicalUnitType') == 'VirtualIO_Image']
        vg = self.drv.disk_dvr._get_vg()
        return [vd.name for vd in vg.virtual_disks
                if localdisk._base_name(vd.name).startswith(
                    localdisk.IMAGE_PREFIX)]


# Fault -> what its index counts.
KINDS = {'http500': 'request', 'job': 'job', 'http412': 'update',
         'expiry': 'request', 'drop': 'request', 'amb500': 'write',
         'amb_loss': 'write', 'write500': 'write'}


def _select(kind, reqs):
    """The (method, path) pairs of ``reqs`` that ``kind`` counts."""
    if kind == 'job':
        return [r for r in reqs if _is_job(*r)]
    if kind == 'update':
        return [r for r in reqs if r[0] == 'POST']
    if kind == 'write':
        return [r for r in reqs if _is_write(*r)]
    return list(reqs)


def _generate(cls, only=None):
    """Add the matrix's tests to ``cls`` (the dimensions in ``only``: all).

    ``test_http500_at_request_NN``, ``test_session_expiry_at_request_NN``,
    ``test_connection_drop_at_request_NN`` (1..max_requests),
    ``test_job_failure_at_job_N`` (1..max_jobs) and
    ``test_http412_at_update_N`` (1..max_updates; updates are POSTs),
    ``test_ambiguous_http500_at_write_NN`` and
    ``test_ambiguous_loss_at_write_NN`` (1..max_writes);
    ``test_http500_at_write_NN`` (1..max_writes) only when ``only`` names
    'write500' (the writes of http500 at every request).
    """
    def recorded(self):
        self._check_recorded()
    recorded.__name__ = 'test_recorded_requests'
    cls.test_recorded_requests = recorded
    names = (('http500', 'test_http500_at_request_%02d', cls.max_requests),
             ('expiry', 'test_session_expiry_at_request_%02d',
              cls.max_requests),
             ('drop', 'test_connection_drop_at_request_%02d',
              cls.max_requests),
             ('job', 'test_job_failure_at_job_%d', cls.max_jobs),
             ('http412', 'test_http412_at_update_%d', cls.max_updates),
             ('amb500', 'test_ambiguous_http500_at_write_%02d',
              cls.max_writes),
             ('amb_loss', 'test_ambiguous_loss_at_write_%02d',
              cls.max_writes),
             ('write500', 'test_http500_at_write_%02d', cls.max_writes))
    for fault, fmt, bound in names:
        if (only is None and fault == 'write500') or (
                only is not None and fault not in only):
            continue
        for k in range(1, bound + 1):
            def case(self, fault=fault, k=k):
                self._fault_case(fault, k)
            case.__name__ = fmt % k
            setattr(cls, case.__name__, case)
    return cls


class _SpawnFlow(_FaultMatrix):
    """spawn of instance 1 with one SEA VIF."""

    config_drive = False
    warm_cache = False

    def prepare(self):
        if self.config_drive:
            base.require_iso_tool(self)
        if self.warm_cache:
            warm = lc.make_instance(4, image_ref=self.image_id)
            self.drv.spawn(None, warm, self.image_meta, [], None, {},
                           network_model.NetworkInfo([]))
            self.drv.destroy(None, warm, [])
        inst = lc.make_instance(1, image_ref=self.image_id,
                                config_drive=self.config_drive)
        return {'inst': inst,
                'vifs': network_model.NetworkInfo(
                    [lc.sea_vif(1, lc.SEA_PVID)])}

    def run_flow(self, state):
        self.drv.spawn(None, state['inst'], self.image_meta, [], None, {},
                       state['vifs'], **state.get('spawn_kwargs', {}))

    def _digest(self, name):
        """Digest of an image disk's image-sized head (zeros follow)."""
        return base.disk_digest(self.sim, name, base.image_size(
            self.glance, self.image_id))

    def check_failed(self, state, before, err):
        self.assertFalse(self.drv.instance_exists(state['inst']))
        if not self.warm_cache and self.sim.inventory() != before:
            # The image may stay cached (by design), but only complete.
            want = self.glance.image_digest(self.image_id)
            for name in self._image_disks():
                self.assertEqual(want, self._digest(name),
                                 'partly uploaded image disk %s left in the '
                                 'cache' % name)
            self.drv.manage_image_cache(None, [])
        self.assertInventory(before)

    def check_succeeded(self, state, before):
        inst = state['inst']
        self.assertEqual('running', vm.get_instance_wrapper(
            self.drv.adapter, inst).state)
        self.drv.destroy(None, inst, state['vifs'])
        if not self.warm_cache:
            self.drv.manage_image_cache(None, [])
        self.assertInventory(before)


@_generate
class TestSpawnLocalDisk(_SpawnFlow):
    """First boot of the image: upload into the VG cache, copy, map, boot."""

    max_requests = 14
    max_jobs = 1
    max_updates = 3
    max_writes = 10


@_generate
class TestSpawnLocalDiskCachedImage(_SpawnFlow):
    """Boot from the cached image (server-side copy)."""

    warm_cache = True
    max_requests = 9
    max_jobs = 1
    max_updates = 2
    max_writes = 6


@_generate
class TestSpawnConfigDrive(_SpawnFlow):
    """Cached image plus a config drive (media upload, vopt mapping)."""

    warm_cache = True
    config_drive = True
    max_requests = 14
    max_jobs = 1
    max_updates = 2
    max_writes = 9


@_generate
class TestSpawnSSP(_SpawnFlow):
    """First boot of the image on a Shared Storage Pool.

    Image LU upload (marker LU protocol), linked clone, mappings, boot.
    """

    disk_driver = 'ssp'
    # 19, plus the cross-host clone marker (PUT, DELETE) and the active
    # VIOS look-up for the upload (GET).
    max_requests = 22
    max_jobs = 1
    max_updates = 2
    max_writes = 15


@_generate
class TestSnapshot(_FaultMatrix):
    """Snapshot of a running localdisk instance."""

    max_requests = 4  # + the partition state read
    max_jobs = 0
    max_updates = 2
    max_writes = 2

    def prepare(self):
        inst = lc.make_instance(1, image_ref=self.image_id)
        self.drv.spawn(None, inst, self.image_meta, [], None, {},
                       network_model.NetworkInfo([]))
        snap = self.glance.create(None, {
            'name': 'snap', 'disk_format': 'raw',
            'container_format': 'bare', 'status': 'queued'})
        return {'inst': inst, 'image_id': snap['id'],
                'update': mock.Mock()}

    def run_flow(self, state):
        self.drv.snapshot(None, state['inst'], state['image_id'],
                          state['update'])

    def check_succeeded(self, state, before):
        self.assertInventory(before)
        # The snapshot holds the whole disk: the image's bytes, then zeros.
        self.assertEqual(self.glance.image_digest(self.image_id),
                         base.file_digest(
                             self.glance.data_path(state['image_id']),
                             base.image_size(self.glance, self.image_id)))


@_generate
class TestDestroy(_FaultMatrix):
    """destroy of a running instance with a VIF and a config drive."""

    max_requests = 13
    max_jobs = 1
    max_updates = 4
    max_writes = 7

    def prepare(self):
        base.require_iso_tool(self)
        base_inv = self.sim.inventory()
        inst = lc.make_instance(1, image_ref=self.image_id,
                                config_drive=True)
        vifs = network_model.NetworkInfo([lc.sea_vif(1, lc.SEA_PVID)])
        self.drv.spawn(None, inst, self.image_meta, [], None, {}, vifs)
        return {'inst': inst, 'vifs': vifs, 'base': base_inv}

    def run_flow(self, state):
        self.drv.destroy(None, state['inst'], state['vifs'])

    def _gone(self, state):
        self.assertFalse(self.drv.instance_exists(state['inst']))
        self.drv.manage_image_cache(None, [])
        self.assertInventory(state['base'])

    def check_failed(self, state, before, err):
        # A retry (nova retries a failed delete) removes the rest.
        self.drv.destroy(None, state['inst'], state['vifs'])
        self._gone(state)

    def check_succeeded(self, state, before):
        self._gone(state)


class TestSnapshotSSP(TestSnapshot):
    """Snapshot of a running instance on a Shared Storage Pool."""

    disk_driver = 'ssp'


@_generate
class TestDestroySSP(TestDestroy):
    """destroy on a Shared Storage Pool (linked clone LU removed)."""

    disk_driver = 'ssp'
    max_requests = 14
    max_writes = 8


class _VolumeFlow(_FaultMatrix):
    """vSCSI (FC) volumes of a partition without boot disk."""

    slot_maps = False

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', slot_map_store=(
            'local' if self.slot_maps else 'none'))

    def make_vm(self):
        inst = tv._instance(1)
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        return inst

    def pv_maps(self, inst):
        return tv.VolumeSimTestBase.pv_maps(self, inst)

    def vioses(self):
        return pvm_vios.VIOS.get(self.drv.adapter, xag=tv._XAGS)

    def attach(self, state):
        self.drv.attach_volume(None, state['info'], state['inst'],
                               '/dev/sdb')

    def detach(self, state):
        self.drv.detach_volume(None, state['info'], state['inst'],
                               '/dev/sdb')

    def check_detach_failed(self, state, before):
        # Still attached (connected back), as before the detach...
        self.assertInventory(before)
        # ...and a retry detaches it completely.
        self.detach(state)
        self.assertInventory(state['detached'])


@_generate
class TestAttachVolume(_VolumeFlow):
    """attach_volume: hdisk discovery on each VIOS, one mapping POST each.

    The slot map is saved from the VIOSes the flow left (no request).
    """

    slot_maps = True

    max_requests = 9
    max_jobs = 2
    max_updates = 2
    max_writes = 6

    def prepare(self):
        return {'inst': self.make_vm(), 'info': tv._conn_info('vol-a', 1)}

    def run_flow(self, state):
        self.attach(state)

    def check_succeeded(self, state, before):
        # A VIOS that failed is tolerated while enough others connect.
        self.assertGreaterEqual(
            len(self.pv_maps(state['inst'])),
            CONF.powervm.vscsi_vios_connections_required)
        self.detach(state)
        self.assertInventory(before)


@_generate
class TestDetachVolume(_VolumeFlow):
    """detach_volume: mappings removed, then the hdisks, the slot map."""

    slot_maps = True

    max_requests = 9
    max_jobs = 2
    max_updates = 2
    max_writes = 6

    def prepare(self):
        state = {'inst': self.make_vm(),
                 'info': tv._conn_info('vol-a', 1)}
        self.attach(state)
        state['attached'] = self.sim.inventory()
        self.detach(state)
        state['detached'] = self.sim.inventory()
        self.attach(state)
        return state

    def run_flow(self, state):
        self.detach(state)

    def check_failed(self, state, before, err):
        self.check_detach_failed(state, before)

    def check_succeeded(self, state, before):
        self.assertEqual({}, self.pv_maps(state['inst']))
        self.assertInventory(state['detached'])


@_generate
class TestSpawnBootFromVolume(_VolumeFlow):
    """spawn from a vSCSI boot volume plus a data volume."""

    max_requests = 19
    max_jobs = 5
    max_updates = 2
    max_writes = 13

    def prepare(self):
        inst = lc.make_instance(1)
        boot = tv.FakeBDM(boot_index=0, volume_id='vol-boot',
                          connection_info=tv._conn_info('vol-boot', 1))
        data = tv.FakeBDM(boot_index=-1, volume_id='vol-data',
                          connection_info=tv._conn_info('vol-data', 2))
        return {'inst': inst, 'bdi': {'block_device_mapping': [boot, data],
                                      'root_device_name': '/dev/sda'}}

    def run_flow(self, state):
        self.drv.spawn(None, state['inst'], objects.ImageMeta.from_dict({}),
                       [], None, {}, [], block_device_info=state['bdi'])

    def check_succeeded(self, state, before):
        self.assertEqual('running', vm.get_instance_wrapper(
            self.drv.adapter, state['inst']).state)
        self.drv.destroy(None, state['inst'], [],
                         block_device_info=state['bdi'])
        self.assertInventory(before)


@_generate
class TestDestroyBootFromVolume(TestSpawnBootFromVolume):
    """destroy of an instance booted from a vSCSI volume plus a data one.

    The volumes' mappings and hdisks go; a failed destroy is completed by
    a retry.
    """

    max_requests = 22
    max_jobs = 5
    max_updates = 2
    max_writes = 13

    def prepare(self):
        state = super().prepare()
        state['base'] = self.sim.inventory()
        super().run_flow(state)
        return state

    def run_flow(self, state):
        self.drv.destroy(None, state['inst'], [],
                         block_device_info=state['bdi'])

    def check_failed(self, state, before, err):
        self.run_flow(state)
        self.check_succeeded(state, before)

    def check_succeeded(self, state, before):
        self.assertFalse(self.drv.instance_exists(state['inst']))
        self.assertInventory(state['base'])


class _NPIVFlow(_VolumeFlow):
    """NPIV: virtual FC mappings (the instance's own WWPNs)."""

    def setUp(self):
        super().setUp()
        self.flags(fc_attach_strategy='npiv', group='powervm')
        npiv.fabric_names()
        # The instance's last FC volume: its virtual FC adapters go too.
        self.useFixture(fixtures.MockPatchObject(
            driver_volume, 'last_fc_volume', return_value=True))

    def npiv_state(self, inst):
        """Connector properties first (they create the instance's WWPNs)."""
        return {'inst': inst, 'conn': self.drv.get_volume_connector(inst),
                'info': tv._conn_info('vol-a', 1)}

    def vfc_maps(self, inst):
        return tv.VolumeSimTestBase.vfc_wwpns(self, inst)


@_generate
class TestAttachVolumeNPIV(_NPIVFlow):
    """attach_volume over NPIV: one virtual FC mapping per fabric."""

    slot_maps = True

    max_requests = 2  # the slot map: no request
    max_jobs = 0
    max_updates = 1
    max_writes = 1

    def prepare(self):
        return self.npiv_state(self.make_vm())

    def run_flow(self, state):
        self.attach(state)

    def check_succeeded(self, state, before):
        self.assertTrue(self.vfc_maps(state['inst']))
        self.detach(state)
        self.assertInventory(before)


@_generate
class TestDetachVolumeNPIV(_NPIVFlow):
    """detach_volume over NPIV (the instance's last FC volume)."""

    slot_maps = True

    max_requests = 2  # the slot map: no request
    max_jobs = 0
    max_updates = 1
    max_writes = 1

    def prepare(self):
        state = self.npiv_state(self.make_vm())
        state['detached'] = self.sim.inventory()
        self.attach(state)
        return state

    def run_flow(self, state):
        self.detach(state)

    def check_failed(self, state, before, err):
        self.check_detach_failed(state, before)

    def check_succeeded(self, state, before):
        self.assertEqual([], self.vfc_maps(state['inst']))
        self.assertInventory(state['detached'])


@_generate
class TestSpawnBootFromVolumeNPIV(_NPIVFlow):
    """spawn from a boot volume over NPIV (new WWPNs, virtual FC mapping)."""

    max_requests = 6
    max_jobs = 1
    max_updates = 1
    max_writes = 4

    def prepare(self):
        inst = lc.make_instance(1)
        inst.save = lambda: None   # no DB: the connector's state save
        state = self.npiv_state(inst)
        boot = tv.FakeBDM(boot_index=0, volume_id='vol-boot',
                          connection_info=tv._conn_info('vol-boot', 1))
        state['bdi'] = {'block_device_mapping': [boot],
                        'root_device_name': '/dev/sda'}
        return state

    def run_flow(self, state):
        self.drv.spawn(None, state['inst'], objects.ImageMeta.from_dict({}),
                       [], None, {}, [], block_device_info=state['bdi'])

    def check_succeeded(self, state, before):
        self.assertEqual('running', vm.get_instance_wrapper(
            self.drv.adapter, state['inst']).state)
        self.assertTrue(self.vfc_maps(state['inst']))
        self.drv.destroy(None, state['inst'], [],
                         block_device_info=state['bdi'])
        self.assertInventory(before)
