"""The benchmarks' environment: simulator, configuration, driver.

Importing this module applies nova's concurrency set-up first (native
threads unless ``OS_NOVA_DISABLE_EVENTLET_PATCHING`` says otherwise), the
way the test suite does, before anything opens a socket.

:class:`Env` starts the PowerVM REST simulator (or, for the memory child,
connects to one that runs elsewhere), points ``[powervm]`` at it, stands in
for the image service with the functional tests' streaming Glance fixture
and loads the driver through nova's loader
(``compute_driver=powervm.PowerVMDriver``).  Instances and VIFs come from
the functional tests' helpers.
"""
import collections
import contextlib
import json
import os
import re
import subprocess  # nosec
import sys
import time
import urllib.error
import urllib.request

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
# nova's monkey_patch.patch(), as in the test suite (before sockets).
import nova_powervm.tests  # noqa: E402,F401,I100

import fixtures  # noqa: E402
from nova.compute import task_states  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova import objects  # noqa: E402
from nova.tests import fixtures as nova_fixtures  # noqa: E402
from nova.virt import driver as nova_driver  # noqa: E402
from nova.virt import virtapi  # noqa: E402

from nova_powervm import conf as cfg  # noqa: E402
from nova_powervm.simulator import admin  # noqa: E402
from nova_powervm.tests.functional import fixtures as pvm_fixtures  # noqa
from nova_powervm.tests.functional import test_lifecycle  # noqa: E402
from nova_powervm.virt.powervm import mgmt  # noqa: E402

CONF = cfg.CONF
HOST = 'compute1'
GiB = 1024 ** 3
_UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}$')
_JOB_ID_RE = re.compile(r'^\d+$')


class VirtAPI(virtapi.VirtAPI):
    """nova-compute's VirtAPI for a driver without a compute manager.

    VIFs handed to spawn are active, so no Neutron event is awaited.
    """

    @contextlib.contextmanager
    def wait_for_instance_event(self, instance, event_names, deadline=300,
                                error_callback=None):
        yield

    def update_compute_provider_status(self, context, rp_uuid, enabled):
        pass


class _FixtureHost(fixtures.Fixture):
    """What nova's fixtures need of a test case: useFixture and stub_out."""

    def stub_out(self, old, new):
        self.useFixture(fixtures.MonkeyPatch(old, new))


class RemoteSim(object):
    """The simulator's control API over its admin HTTP API (/sim/admin/).

    ``start()`` runs one in a child process (``benchmarks.simserver``).
    """

    def __init__(self, host, port, username, password, admin_token):
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.admin_token = admin_token
        self.base_url = 'http://%s:%d' % (host, port)
        self.proc = None

    @classmethod
    def start(cls, args=()):
        """:param args: benchmarks.simserver's options."""
        proc = subprocess.Popen(  # nosec
            [sys.executable, '-m', 'benchmarks.simserver'] + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        info = json.loads(proc.stdout.readline())
        sim = cls(info['host'], info['port'], info['username'],
                  info['password'], info['admin_token'])
        sim.proc = proc
        return sim

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(30)
            self.proc = None

    def _call(self, method, path, body=None):
        req = urllib.request.Request(
            self.base_url + '/sim/admin/' + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={'Content-Type': 'application/json',
                     admin.TOKEN_HEADER: self.admin_token})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # nosec
                return json.loads(resp.read() or b'{}')
        except urllib.error.HTTPError as e:
            raise RuntimeError('%s %s: %s' % (path, e, e.read()[-900:]))

    def request_log(self):
        return self._call('GET', 'requests')

    def clear_request_log(self):
        self._call('DELETE', 'requests')

    def set_latency(self, ms):
        self._call('POST', 'latency', {'ms': ms})

    def set_partition_state(self, uuid, state):
        self._call('POST', 'partitions/%s/state' % uuid, {'state': state})

    def inventory(self):
        return self._call('GET', 'inventory')

    def disk_path(self, name):
        return self._call('POST', 'call/bench_disk_path',
                          {'disk': name})['result']


def resource_key(method, path):
    """'METHOD Type[/suffix]' of a request, e.g. 'PUT LogicalPartition/do'.

    UUIDs and job ids are dropped, a type nested under its parent keeps only
    its own name; job runs and quick-property reads keep their suffix kind.
    """
    parts = [p for p in path.split('?', 1)[0].split('/') if p]
    if parts[:2] == ['rest', 'api']:
        parts = parts[3:]
    names = [p for p in parts if not _UUID_RE.match(p) and
             not _JOB_ID_RE.match(p)]
    if not names:
        return '%s %s' % (method, path)
    kind = names[-1]
    for suffix in ('do', 'quick', 'contents'):
        if suffix in names:
            idx = names.index(suffix)
            kind = '%s/%s' % (names[idx - 1] if idx else '', suffix)
            break
    return '%s %s' % (method, kind)


def breakdown(entries):
    """Counter of resource_key over request log entries."""
    return collections.Counter(resource_key(r['method'], r['path'])
                               for r in entries)


def non_event(entries):
    """Request log entries without the event listener's long polls."""
    return [r for r in entries if '/Event' not in r['path']]


def instance(n, image_ref=None, config_drive=False, root_gb=1):
    """A nova instance (the functional tests' builder) numbered ``n``."""
    inst = test_lifecycle.make_instance(1, image_ref=image_ref,
                                        config_drive=config_drive)
    # Disk names keep the first 13 hex digits of the uuid: make them differ.
    inst.uuid = 'b%07d-0000-4000-8000-be0c00000000' % n
    inst.id = n
    inst.display_name = inst.hostname = 'bench%d' % n
    inst.flavor.root_gb = root_gb
    return inst


def network_info(n=1):
    """One active pvm_sea VIF on the SEA's own VLAN (its PVID).

    As on a host already serving the network: a VLAN the SEA does not yet
    carry would be added by the first spawn and removed by the last
    destroy, so a one-at-a-time benchmark would count that every time
    (the request-count regression tests use the PVID too).
    """
    return network_model.NetworkInfo(
        [test_lifecycle.sea_vif(n, test_lifecycle.SEA_PVID)])


class Env(object):
    """Simulator + configuration + image service + driver factory.

    :param remote: a running simulator's :class:`RemoteSim`; by default
        one is started in a child process (and stopped on exit).
    :param sim_args: that child's options (``benchmarks.simserver``).
    """

    def __init__(self, remote=None, sim_args=()):
        self.remote = remote
        self.sim_args = sim_args
        self.host = _FixtureHost()
        self.sim = None
        self.glance = None
        self.context = None
        self._drivers = []   # loaded and not shut down yet

    def __enter__(self):
        self.host.setUp()
        try:
            self._setup()
        except Exception:
            self.host.cleanUp()
            raise
        return self

    def __exit__(self, *exc_info):
        self.host.cleanUp()

    def _setup(self):
        objects.register_all()
        h = self.host
        if self.remote is None:
            self.sim = RemoteSim.start(self.sim_args)
            h.addCleanup(self.sim.close)
        else:
            self.sim = self.remote
        flags = {'host': self.sim.host, 'port': self.sim.port,
                 'protocol': 'http', 'username': self.sim.username,
                 'password': self.sim.password, 'use_rmc_mgmt_vif': False,
                 'disk_driver': 'localdisk',
                 'image_meta_local_path': h.useFixture(
                     fixtures.TempDir()).path}
        for name, value in flags.items():
            CONF.set_override(name, value, group='powervm')
            h.addCleanup(CONF.clear_override, name, group='powervm')
        CONF.set_override('host', HOST)
        h.addCleanup(CONF.clear_override, 'host')
        # The node UUID nova-compute would keep in a file beside its
        # configuration (none here): made up, in memory.
        h.useFixture(nova_fixtures.ComputeNodeIdFixture())
        self.glance = h.useFixture(pvm_fixtures.StreamingGlanceFixture(h))
        h.useFixture(pvm_fixtures.DiscoverDiskFixture(self.sim))
        # No mkisofs here; the metadata content is not what is measured.
        h.useFixture(fixtures.MockPatch(
            'nova.virt.configdrive.ConfigDriveBuilder._make_iso9660',
            side_effect=test_lifecycle.TestSpawnDestroy._fake_iso))
        h.useFixture(fixtures.MockPatch(
            'nova.api.metadata.base.InstanceMetadata'))
        self.context = nova_context.get_admin_context()
        mgmt._reset_cache()

    def set_volume_group(self, name):
        CONF.set_override('volume_group_name', name, group='powervm')

    def data_vg(self):
        """A volume group other than rootvg."""
        names = [key.split('/', 1)[1] for key in
                 sorted(self.sim.inventory()['volume_groups'])]
        return ([n for n in names if n != 'rootvg'] or names)[0]

    def add_image(self, size, name='bench-image', data=True):
        """An active raw image of ``size`` bytes.

        ``data=False`` registers the size only: downloads stream that many
        zero bytes, generated as they are read.
        """
        if data:
            return self.glance.add_image(size, name=name)
        return self.glance.create(None, {
            'name': name, 'container_format': 'bare', 'disk_format': 'raw',
            'visibility': 'public', 'size': size, 'min_disk': 0,
            'min_ram': 0, 'properties': {}})

    def new_snapshot_image(self, name='bench-snap'):
        return self.glance.create(None, {'name': name, 'status': 'queued',
                                         'container_format': 'bare',
                                         'disk_format': 'raw',
                                         'properties': {}})['id']

    def load_driver(self, listener=True, alone=True):
        """The driver loaded as nova-compute does, after init_host.

        ``listener=False`` stops the event listener again, so that its
        reads don't mix with an operation's requests.  ``alone`` (as in
        a nova-compute process: one driver) first shuts down the drivers
        loaded before: a listener left running would read each partition
        the next measurement changes (``GET LogicalPartition/<uuid>/quick``
        per event, counted with that measurement's requests).
        """
        if alone:
            while self._drivers:
                self._shutdown(self._drivers.pop())
        drv = nova_driver.load_compute_driver(VirtAPI(),
                                              'powervm.PowerVMDriver')
        drv.init_host(HOST)
        self._drivers.append(drv)
        self.host.addCleanup(self._shutdown, drv)
        if not listener:
            drv.cleanup_host(HOST)
        return drv

    @staticmethod
    def _shutdown(drv):
        """Stop the listener and log off (again: a no-op)."""
        drv.cleanup_host(HOST)
        try:
            drv.adapter.session._logoff()
        except Exception:
            pass

    def spawn(self, drv, inst, image_meta, vifs=None):
        inst.task_state = task_states.SPAWNING
        drv.spawn(self.context, inst, image_meta, [], None, {},
                  vifs if vifs is not None else network_info())
        inst.task_state = None
        inst.vm_state = 'active'


def timed(fn, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.monotonic()
    ret = fn(*args, **kwargs)
    return time.monotonic() - start, ret
