"""The SEA agent's calls to neutron-server over the message bus.

The L2-agent side of ML2's RPC, as neutron's own agents speak it: agent
state reports to ``q-reports-plugin`` and device calls to ``q-plugin``.
A device is named by its MAC address (``fa:16:3e:..``): ML2 maps it to
the port.  Needs neutron-lib and oslo.messaging, not neutron.
"""
import datetime

from neutron_lib.agent import topics
from neutron_lib import constants as n_const
from neutron_lib import context as n_context
from neutron_lib import rpc as n_rpc
import oslo_messaging


class NeutronRpc(object):
    """report_state and the device up/down/details calls of one host."""

    def __init__(self, host, agent_id=None):
        self.host = host
        self.agent_id = agent_id or 'pvm-sea-%s' % host
        self._ctx = n_context.get_admin_context_without_session()
        self._state = n_rpc.get_client(oslo_messaging.Target(
            topic=topics.REPORTS, version='1.0',
            namespace=n_const.RPC_NAMESPACE_STATE))
        self._plugin = n_rpc.get_client(oslo_messaging.Target(
            topic=topics.PLUGIN, version='1.0'))

    def report_state(self, agent_state, use_call=False):
        """Send the agent's state (a call the first time, then casts)."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None).strftime(n_const.ISO8601_TIME_FORMAT)
        cctxt = self._state.prepare()
        send = cctxt.call if use_call else cctxt.cast
        return send(self._ctx, 'report_state',
                    agent_state={'agent_state': agent_state}, time=now)

    def get_devices_details_list(self, devices):
        cctxt = self._plugin.prepare(version='1.3')
        return cctxt.call(self._ctx, 'get_devices_details_list',
                          devices=list(devices), agent_id=self.agent_id,
                          host=self.host)

    def update_device_up(self, device):
        cctxt = self._plugin.prepare(version='1.1')
        return cctxt.call(self._ctx, 'update_device_up', device=device,
                          agent_id=self.agent_id, host=self.host)

    def update_device_down(self, device):
        cctxt = self._plugin.prepare(version='1.1')
        return cctxt.call(self._ctx, 'update_device_down', device=device,
                          agent_id=self.agent_id, host=self.host)
