"""The Simulator: state, server lifecycle and the test-control API."""
import functools
import ipaddress
import logging
import os
import secrets
import shutil
import tempfile
import threading

from nova_powervm.simulator import auth
from nova_powervm.simulator import errors
from nova_powervm.simulator import events as sim_events
from nova_powervm.simulator import faults as sim_faults
from nova_powervm.simulator import inventory as sim_inv
from nova_powervm.simulator import jobs as sim_jobs
from nova_powervm.simulator import registry
from nova_powervm.simulator import seed
from nova_powervm.simulator import seed_scale
from nova_powervm.simulator import server as sim_server
from nova_powervm.simulator import storage_scsi_mgmt as sim_mgmt_disks
from nova_powervm.simulator import xmlutil as xu

LOG = logging.getLogger(__name__)
DEFAULT_USERNAME = 'neo'
DEFAULT_PASSWORD = 'passw0rd'
ADMIN_TOKEN_FILE = 'admin-token'


def is_loopback(host):
    """Whether a listen address is reachable from this machine only."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Simulator(object):
    """A PowerVM REST API server plus the controls tests use on it."""

    def __init__(self, host='127.0.0.1', port=0, username=DEFAULT_USERNAME,
                 password=DEFAULT_PASSWORD, state_file=None, latency_ms=0,
                 event_hold_s=10.0, power_delay_s=0.2, session_timeout_s=None,
                 mc_type='PVM', state_dir=None, admin_api=True,
                 admin_token=None, file_users=None, vios_boot_s=0.0,
                 vios_rmc_s=0.0, san=None, partitions=0, migration_s=0.1,
                 mgmt_disk_dir=None, guest_rmc=False):
        """See the keyword arguments' use below; security-relevant ones:

        ``state_dir``: the only directory the simulator writes to (session
        files, the admin token, ``dump_state``); a private temporary one,
        removed by close(), when not given.  ``admin_api``: serve
        /sim/admin/ (with ``admin_token``, random when not given).
        ``file_users``: users NovaLink's file-based logon accepts (default:
        ``username`` only).  ``vios_boot_s``/``vios_rmc_s``: after start
        (and reset()), the VIOSes are "not activated" for vios_boot_s, then
        running with RMC inactive for vios_rmc_s, as after a host reboot
        (see the reboot_host control).  ``san``: a san.San this host
        shares an SSP cluster with (several hosts, see san.py).
        ``partitions``: seed that many client partitions (seed_scale.py).
        ``migration_s``: how long a partition migration takes
        (partition_mobility.py; the set_migration control changes it).
        ``mgmt_disk_dir``: where disks mapped to the management partition
        appear as by-id links (storage_scsi_mgmt.py; None: nowhere).
        ``guest_rmc``: client partitions' RMC connections (and DLPAR
        capabilities) are active while running, as with a guest OS running
        RSCT (default: never, until the set_rmc control).
        """
        registry.load_plugins()
        # With a san (san.San) this is one host of several sharing an SSP
        # cluster: the lock is shared, host_index picks the identity.
        self.san = san
        self.host_index = san.attach(self) if san is not None else 0
        self.lock = san.lock if san is not None else threading.RLock()
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.state_file = state_file
        self.latency_ms = latency_ms
        self.power_delay_s = power_delay_s
        # Jobs whose delay is at most this finish inside the PUT (3
        # requests per job); longer ones answer RUNNING and are polled.
        self.sync_job_max_s = 2.0
        self.mc_type = mc_type
        self.vios_boot_s = vios_boot_s
        self.vios_rmc_s = vios_rmc_s
        self.partitions = partitions
        self.migration_s = migration_s
        self.mgmt_disk_dir = mgmt_disk_dir
        self.guest_rmc = guest_rmc
        self.store = sim_inv.Inventory(self)
        self.events = sim_events.EventBus(event_hold_s)
        self.jobs = sim_jobs.JobStore()
        self._own_state_dir = state_dir is None
        self.state_dir = os.path.realpath(
            tempfile.mkdtemp(prefix='powervm-sim-') if state_dir is None
            else state_dir)
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.admin_api = admin_api
        self.admin_token = admin_token or secrets.token_urlsafe(32)
        self.sessions = auth.SessionStore(
            username, password, session_timeout_s, self.lock,
            file_users=file_users,
            token_dir=os.path.join(self.state_dir, 'sessions'))
        self.faults = sim_faults.Faults()
        self.log = sim_faults.RequestLog()
        self.extra = {}   # scratch space for hook modules
        self._server = None
        self._thread = None
        self.base_url = 'http://%s:%d' % (self._url_host(), port)

    def _url_host(self):
        return '127.0.0.1' if self.host in ('0.0.0.0', '') else self.host

    # ---- lifecycle -----------------------------------------------------
    def start(self):
        if self._server is not None:
            return self
        srv = sim_server.Server(self, self.host, self.port)
        self.port = srv.server_address[1]
        self.base_url = 'http://%s:%d' % (self._url_host(), self.port)
        if self.admin_api:
            self._write_admin_token()
        warning = self.exposure_warning()
        if warning:
            LOG.warning(warning)
        self.events.wake_all(closing=False)
        if not self.store.objs:
            self._seed()
        self._server = srv
        self._thread = threading.Thread(
            target=srv.serve_forever, kwargs={'poll_interval': 0.05},
            name='powervm-simulator', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        srv, self._server = self._server, None
        if srv is None:
            return
        self.events.wake_all(closing=True)
        srv.shutdown()
        srv.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None

    def close(self):
        self.stop()
        sim_mgmt_disks.clear(self)
        self.sessions.cleanup()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # ---- exposure ------------------------------------------------------
    @property
    def admin_token_file(self):
        return os.path.join(self.state_dir, ADMIN_TOKEN_FILE)

    def _write_admin_token(self):
        fd = os.open(self.admin_token_file,
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(self.admin_token + '\n')

    def exposure_warning(self):
        """What a listener beyond loopback exposes (None on loopback)."""
        if is_loopback(self.host):
            return None
        parts = ['the simulated PowerVM REST API (logon as %s%s)'
                 % (self.username, ', the default password'
                    if self.password == DEFAULT_PASSWORD else '')]
        if self.admin_api:
            parts.append('the admin API /sim/admin/ (token-protected: '
                         'reset, faults, partition states, every control, '
                         'files written under %s)' % self.state_dir)
        return ('powervm-simulator listens on %s, beyond loopback: anyone '
                'who can reach it can use %s; everything, passwords and '
                'tokens included, travels in clear over HTTP.'
                % (self.host or '0.0.0.0', ' and '.join(parts)))

    def state_path(self, path):
        """``path`` resolved under state_dir (relative: from state_dir).

        Anything outside state_dir raises OutsideStateDir.
        """
        full = os.path.realpath(os.path.join(self.state_dir, path))
        if full == self.state_dir or os.path.commonpath(
                [full, self.state_dir]) != self.state_dir:
            raise errors.OutsideStateDir(path, self.state_dir)
        return full

    def restart(self):
        """Stop and start on the same port; state is kept."""
        self.stop()
        self.start()

    @property
    def running(self):
        return self._server is not None

    def _seed(self):
        xu.in_private_thread(self._seed_locked)

    def _seed_locked(self):
        with self.lock:
            if self.state_file:
                seed.load_state(self, self.state_file)
            else:
                seed.build_default(self)
                for fn in registry.SEEDERS:
                    fn(self)
                seed_scale.seed_partitions(self, self.partitions)
            seed.finish(self)
            if self.vios_boot_s or self.vios_rmc_s:
                registry.CONTROLS['reboot_host'](
                    self, vios_boot_s=self.vios_boot_s,
                    vios_rmc_s=self.vios_rmc_s, emit=False)
            if self.san is not None:
                self.san.joined(self)

    def reset(self):
        """Back to the initial state; faults, latency and logs cleared.

        A host sharing a san resets every host of it.
        """
        xu.in_private_thread(self._reset)

    def _reset(self):
        if self.san is not None:
            self.san.reset()
            return
        with self.lock:
            self.store.clear()
            self.extra.clear()
            self.jobs.jobs.clear()
            self._seed_locked()
        self._reset_controls()

    def _reset_controls(self):
        self.faults.clear()
        self.latency_ms = 0
        self.log.clear()
        self.events.invalidate_all()

    def new_uuid(self, type_name=None):
        spec = registry.TYPES.get(type_name)
        return sim_inv.new_uuid(upper=bool(spec and spec.uuid_upper))

    # ---- well-known objects --------------------------------------------
    @property
    def host_uuid(self):
        with self.lock:
            return self.store.of_type('ManagedSystem')[0].uuid

    @property
    def vios_uuids(self):
        with self.lock:
            vioses = self.store.of_type('VirtualIOServer')
            return [o.uuid for o in sorted(
                vioses, key=lambda o: o.text('PartitionName', ''))]

    @property
    def mgmt_uuid(self):
        with self.lock:
            for o in self.store.of_type('LogicalPartition') + \
                    self.store.of_type('VirtualIOServer'):
                if o.text('IsManagementPartition') == 'true':
                    return o.uuid
        return None

    def objects(self, type_name):
        """Copies of the stored elements of a type (for assertions)."""
        with self.lock:
            return [xu.filter_xag(o.element, None)
                    for o in self.store.of_type(type_name)]

    def get_object(self, type_name, uuid):
        with self.lock:
            o = self.store.get(type_name, uuid)
            return None if o is None else xu.filter_xag(o.element, None)

    # ---- controls ------------------------------------------------------
    def inject_fault(self, method=None, path=None, nth=None,
                     status=sim_faults._DEFAULT, job_failure=False,
                     drop=False, delay_s=0, times=1, after_commit=False):
        """Arm a fault; returns its id.  See the package docstring."""
        return self.faults.add(method, path, nth, status, job_failure, drop,
                               delay_s, times, after_commit)

    def clear_faults(self):
        self.faults.clear()

    def set_latency(self, ms):
        self.latency_ms = max(0, ms or 0)

    def request_log(self):
        return self.log.entries()

    def clear_request_log(self):
        self.log.clear()

    def counters(self):
        c = self.log.counter_values()
        c['logons'] = self.sessions.logons
        c['failed_logons'] = self.sessions.failed_logons
        c['active_sessions'] = self.sessions.count()
        c['jobs_started'] = self.jobs.started
        c['events_emitted'] = self.events.emitted
        return c

    def expire_sessions(self):
        self.sessions.expire_all()

    def set_partition_state(self, uuid, state):
        """Change a partition's state behind the client's back.

        ``state`` is one the REST API reports (``partition.STATES``).
        """
        from nova_powervm.simulator import partition
        if state not in partition.STATES:
            raise ValueError('Unknown partition state %r; one of %s'
                             % (state, ', '.join(sorted(partition.STATES))))
        xu.in_private_thread(self._set_partition_state, uuid, state)

    def _set_partition_state(self, uuid, state):
        from nova_powervm.simulator import partition
        with self.lock:
            obj = (self.store.get('LogicalPartition', uuid) or
                   self.store.get('VirtualIOServer', uuid))
            if obj is None:
                raise KeyError('No partition %s' % uuid)
            partition.set_state(self, obj, state)

    def inventory(self):
        """Deterministic plain-dict snapshot of the whole state.

        Keys come from registered snapshot hooks (partitions, adapters,
        storage, ...), so before/after states compare with assertEqual.
        """
        with self.lock:
            return {name: fn(self) for name, fn in
                    sorted(registry.SNAPSHOTS.items())}

    def dump_state(self, path):
        """Write the state file ``path`` (under state_dir); returns it."""
        full = self.state_path(path)
        with self.lock:
            seed.dump_state(self, full)
        return full

    def call(self, control, /, **kwargs):
        """Invoke a control by name (used by the admin API).

        ``control`` is positional-only so a control may itself take a
        ``name`` argument (e.g. ``disk_path(name=...)``).
        """
        if control in registry.CONTROLS:
            return xu.in_private_thread(registry.CONTROLS[control], self,
                                        **kwargs)
        fn = getattr(self, control, None)
        if control.startswith('_') or not callable(fn):
            raise AttributeError('No control %s' % control)
        return fn(**kwargs)

    def __getattr__(self, name):
        # Controls added by hook modules (e.g. storage's
        # set_fc_target_reachable, disk_path) appear as methods.
        fn = registry.CONTROLS.get(name)
        if fn is None:
            raise AttributeError(name)
        return functools.partial(xu.in_private_thread, fn, self)
