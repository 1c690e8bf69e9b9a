"""The Simulator: state, server lifecycle and the test-control API."""
import functools
import threading

from nova_powervm.simulator import auth
from nova_powervm.simulator import events as sim_events
from nova_powervm.simulator import faults as sim_faults
from nova_powervm.simulator import inventory as sim_inv
from nova_powervm.simulator import jobs as sim_jobs
from nova_powervm.simulator import registry
from nova_powervm.simulator import seed
from nova_powervm.simulator import server as sim_server
from nova_powervm.simulator import xmlutil as xu

DEFAULT_USERNAME = 'neo'
DEFAULT_PASSWORD = 'passw0rd'


class Simulator(object):
    """A PowerVM REST API server plus the controls tests use on it."""

    def __init__(self, host='127.0.0.1', port=0, username=DEFAULT_USERNAME,
                 password=DEFAULT_PASSWORD, state_file=None, latency_ms=0,
                 event_hold_s=10.0, power_delay_s=0.2, session_timeout_s=None,
                 mc_type='PVM'):
        registry.load_plugins()
        self.lock = threading.RLock()
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
        self.store = sim_inv.Inventory(self)
        self.events = sim_events.EventBus(event_hold_s)
        self.jobs = sim_jobs.JobStore()
        self.sessions = auth.SessionStore(username, password,
                                          session_timeout_s, self.lock)
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
        self.sessions.cleanup()

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
            seed.finish(self)

    def reset(self):
        """Back to the initial state; faults, latency and logs cleared."""
        xu.in_private_thread(self._reset)

    def _reset(self):
        with self.lock:
            self.store.clear()
            self.extra.clear()
            self.jobs.jobs.clear()
            self._seed_locked()
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
                     drop=False, delay_s=0, times=1):
        """Arm a fault; returns its id.  See the package docstring."""
        return self.faults.add(method, path, nth, status, job_failure, drop,
                               delay_s, times)

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
        """Change a partition's state behind the client's back."""
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
        with self.lock:
            seed.dump_state(self, path)

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
