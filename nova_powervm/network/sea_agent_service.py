"""``nova-powervm-sea-agent``: options, event feed hookup and main loop.

Run on each PowerVM host next to nova-compute, e.g.::

    nova-powervm-sea-agent --config-file /etc/nova/nova.conf \\
        --config-file /etc/nova-powervm/sea_agent.conf

It reads ``[powervm]`` (the REST API connection, as nova-compute does),
``[sea_agent]`` and the message bus of neutron-server (``[DEFAULT]
transport_url``, ``[oslo_messaging_*]``; the last file wins).
"""
import signal
import socket
import sys
import threading
import time

from neutron_lib import rpc as n_rpc
from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging
from pypowervm import adapter as pvm_adpt
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import network as pvm_net

from nova_powervm.network import ml2_pvm_sea
from nova_powervm.network import sea_agent
from nova_powervm.network import sea_agent_rpc

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

BINARY = 'nova-powervm-sea-agent'
RETRY_S = 5

opts = [
    cfg.StrOpt('host', sample_default='<this host\'s name>',
               help='The host name nova-compute on this host uses (its '
                    '[DEFAULT] host): the binding:host_id of its ports. '
                    'Default: the machine\'s host name (nova\'s default).'),
    cfg.IntOpt('resync_interval', default=60, min=5,
               help='Seconds between full reads of every partition\'s '
                    'network adapters (events name what changed between '
                    'them).'),
    cfg.IntOpt('report_interval', default=30, min=1,
               help='Seconds between state reports to neutron-server '
                    '(keep it under its agent_down_time).'),
]
CONF.register_opts(opts, group='sea_agent')
# neutron-lib's RPC client backs off up to it; neutron registers it in its
# own processes only.
_MAX_TIMEOUT = cfg.IntOpt('rpc_response_max_timeout', default=600,
                          help='Maximum seconds to wait for a response '
                               'from an RPC call (neutron\'s option).')


def list_opts():
    return [('sea_agent', opts)]


def agent_host(conf=CONF):
    return conf.sea_agent.host or socket.gethostname()


def _part_uuid(href):
    """The partition a CNA or partition event is about; None otherwise."""
    if not href or '/LogicalPartition/' not in href:
        return None
    tail = href.split('/LogicalPartition/', 1)[1].split('?', 1)[0]
    parts = tail.strip('/').split('/')
    if len(parts) == 1 or parts[1] == 'ClientNetworkAdapter':
        return parts[0]
    return None


class EventHandler(pvm_adpt.RawEventHandler):
    """Hands the agent the partitions the REST API's events name."""

    def __init__(self, agent):
        self.agent = agent

    def process(self, events):
        for evt in events:
            etype = evt.get('EventType')
            if etype in ('CACHE_CLEARED', 'MISSING_EVENTS', 'NEW_CLIENT'):
                self.agent.resync()
            elif etype in ('ADD_URI', 'DELETE_URI', 'MODIFY_URI'):
                uuid = _part_uuid(evt.get('EventData'))
                if uuid and (etype != 'MODIFY_URI' or
                             'ClientNetworkAdapter' in evt['EventData']):
                    self.agent.changed(uuid)


class Stopped(BaseException):
    """The agent was stopped while a call to neutron-server waited."""


class _StoppableRpc(object):
    """The RPC client; a call is abandoned when the agent is stopped.

    neutron-lib's client waits up to ``rpc_response_timeout`` per try and
    backs off up to ``rpc_response_max_timeout`` (10 minutes): a stop
    (SIGTERM) must not wait for it.
    """

    def __init__(self, rpc, service):
        self._rpc, self._service = rpc, service

    def __getattr__(self, name):
        func = getattr(self._rpc, name)

        def call(*args, **kwargs):
            return self._service.call(func, *args, **kwargs)
        return call


class AgentService(object):
    """The agent's loop: sync on events, full reads, state reports."""

    def __init__(self, agent, rpc, host, conf=CONF):
        self.agent, self.host = agent, host
        self.conf = conf.sea_agent
        self.stopped = threading.Event()
        self._calls = set()      # Events of the calls under way
        self.rpc = agent.rpc = _StoppableRpc(rpc, self)
        self._started = False
        self._handler = None

    def agent_state(self):
        vsws = pvm_net.VSwitch.get(self.agent.adapter,
                                   parent_type=pvm_ms.System,
                                   parent_uuid=self.agent.host_uuid)
        state = {'binary': BINARY, 'host': self.host, 'topic': 'N/A',
                 'agent_type': ml2_pvm_sea.AGENT_TYPE_PVM_SEA,
                 'configurations': {
                     'bridge_mappings': {v.name: v.name for v in vsws},
                     'devices': self.agent.devices_up,
                     'managed_system': self.agent.host_uuid}}
        if not self._started:
            state['start_flag'] = True
        return state

    def report(self):
        try:
            self.rpc.report_state(self.agent_state(),
                                  use_call=not self._started)
            self._started = True
        except Exception as e:
            LOG.warning('Could not report the agent state to neutron: %s', e)

    def listen(self):
        """Subscribe to the REST API's event feed (else full reads only)."""
        self._handler = EventHandler(self.agent)
        try:
            self.agent.adapter.session.get_event_listener().subscribe(
                self._handler)
        except Exception as e:
            self._handler = None
            LOG.warning('PowerVM event feed unavailable; adapters are seen '
                        'at the full reads only: %s', e)

    def call(self, func, *args, **kwargs):
        """``func(...)`` in a helper thread, given up on at :meth:`stop`.

        :raises Stopped: the agent was stopped before the call returned.
        """
        done, res = threading.Event(), {}

        def run():
            try:
                res['ret'] = func(*args, **kwargs)
            except Exception as e:
                res['err'] = e
            finally:
                done.set()
        self._calls.add(done)
        try:
            if not self.stopped.is_set():
                threading.Thread(target=run, name='sea-agent-rpc',
                                 daemon=True).start()
                done.wait()
        finally:
            self._calls.discard(done)
        if 'err' in res:
            raise res['err']
        if 'ret' not in res:
            raise Stopped()
        return res['ret']

    def stop(self, *_args):
        self.stopped.set()
        self.agent.wake.set()
        for done in list(self._calls):
            done.set()

    def on_signal(self, *_args):
        """SIGTERM/SIGINT: stop (from a thread: the handler interrupts
        the main thread, which may hold the lock of an Event stop sets).
        """
        threading.Thread(target=self.stop, name='sea-agent-stop',
                         daemon=True).start()

    def run(self):
        """Loop until :meth:`stop`."""
        self.listen()
        try:
            self._loop()
        except Stopped:
            LOG.info('Stopped while waiting for neutron-server.')
        if self._handler is not None:
            session = self.agent.adapter.session
            try:
                session.get_event_listener().unsubscribe(self._handler)
            except ValueError:
                pass

    def _loop(self):
        next_full = next_report = 0
        while not self.stopped.is_set():
            now = time.monotonic()
            if now >= next_full:
                self.agent.resync()
                next_full = now + self.conf.resync_interval
            self.agent.sync()
            if now >= next_report:
                self.report()
                next_report = now + (self.conf.report_interval
                                     if self._started else RETRY_S)
            wait = min(next_full, next_report) - time.monotonic()
            if self.agent.retry:
                wait = min(wait, RETRY_S)
            self.agent.wake.wait(max(0, wait))


def init_rpc(conf):
    """The message bus on neutron-server's exchange, ``neutron``.

    neutron's own config sets that exchange; nova.conf, which the agent
    reads, sets none, and oslo.messaging's default (``openstack``) reaches
    no neutron server: report_state timed out, the agent never came alive.
    An explicit ``[DEFAULT] control_exchange`` still wins.
    """
    oslo_messaging.set_transport_defaults(control_exchange='neutron')
    n_rpc.init(conf)


def main(argv=None):
    from nova_powervm.virt.powervm import host_net
    from nova_powervm.virt.powervm import session
    logging.register_options(CONF)
    try:
        CONF.register_opt(_MAX_TIMEOUT)
    except cfg.DuplicateOptError:
        pass   # neutron's own, in this process
    CONF(sys.argv[1:] if argv is None else argv, project='nova-powervm',
         prog=BINARY)
    logging.setup(CONF, BINARY)
    init_rpc(CONF)
    host = agent_host()
    adapter = session.build_adapter()
    agent = sea_agent.SeaAgent(adapter, host_net.host_uuid(adapter),
                               sea_agent_rpc.NeutronRpc(host))
    service = AgentService(agent, agent.rpc, host)
    signal.signal(signal.SIGTERM, service.on_signal)
    signal.signal(signal.SIGINT, service.on_signal)
    LOG.info('PowerVM SEA agent of host %(host)s (managed system %(ms)s) '
             'started.', {'host': host, 'ms': agent.host_uuid})
    service.run()
    LOG.info('PowerVM SEA agent stopped.')
    return 0
