"""ML2 mechanism driver ``pvm_sea``: binds ports of PowerVM hosts.

A port on a VLAN or flat segment is bound with ``vif_type`` ``pvm_sea``
when its host runs a live PowerVM SEA agent (``nova-powervm-sea-agent``,
:mod:`nova_powervm.network.sea_agent`).  The binding details carry the
segment's VLAN (``vlan``; a flat segment gets ``network_type: flat``) and
``sea_agent: True``: the agent owns the VLAN on the host's Shared Ethernet
Adapter, nova-compute leaves its removal to it.

The port's provisioning waits for the agent: a bound port gets neutron's
L2-agent provisioning block, so it stays DOWN (and nova gets no
``network-vif-plugged``) until the agent has put the port's VLAN on the
SEA and called ``update_device_up``.

Enable it in ``ml2_conf.ini``::

    [ml2]
    mechanism_drivers = pvm_sea
    [ml2_pvm_sea]
    hosts = novalink1,novalink2    # empty (default): every agent's host

neutron-lib and (when a port is bound) neutron are needed only here;
nova-compute never imports this module.
"""
from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import resources
from neutron_lib import constants as n_const
from neutron_lib.plugins.ml2 import api
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

VIF_TYPE_PVM_SEA = 'pvm_sea'
AGENT_TYPE_PVM_SEA = 'PowerVM SEA agent'
# Binding detail: the SEA agent adds and removes the port's VLAN.
DETAIL_SEA_AGENT = 'sea_agent'
SUPPORTED_TYPES = (n_const.TYPE_VLAN, n_const.TYPE_FLAT)

opts = [
    cfg.ListOpt('hosts', default=[],
                help='Hosts (binding:host_id, i.e. nova-compute\'s host '
                     'name) whose ports this driver may bind as pvm_sea; '
                     'a port is bound only if its host also runs a live '
                     'PowerVM SEA agent. Empty: every host with an agent.'),
]
cfg.CONF.register_opts(opts, group='ml2_pvm_sea')


def list_opts():
    return [('ml2_pvm_sea', opts)]


class PvmSeaMechanismDriver(api.MechanismDriver):
    """Bind VLAN/flat segments as pvm_sea on hosts with a live SEA agent."""

    agent_type = AGENT_TYPE_PVM_SEA

    def initialize(self):
        self.hosts = frozenset(cfg.CONF.ml2_pvm_sea.hosts)
        LOG.info('pvm_sea mechanism driver serving the SEA agents of %s.',
                 ', '.join(sorted(self.hosts)) or 'every host')

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def serves(self, host):
        return bool(host) and (not self.hosts or host in self.hosts)

    def _mine(self, context):
        vnic = context.current.get(portbindings.VNIC_TYPE,
                                   portbindings.VNIC_NORMAL)
        return (vnic == portbindings.VNIC_NORMAL and
                self.serves(context.host))

    def live_agents(self, context):
        """The live SEA agents of the port's host."""
        return [a for a in context.host_agents(self.agent_type) or []
                if a.get('alive')]

    def bind_port(self, context):
        """Bind the first VLAN or flat segment, if the host has an agent."""
        port = context.current
        if not self._mine(context):
            return
        if not self.live_agents(context):
            LOG.debug('Not binding port %(port)s: no live %(type)s on host '
                      '%(host)s.', {'port': port['id'], 'host': context.host,
                                    'type': self.agent_type})
            return
        for segment in context.segments_to_bind:
            details = self.vif_details(segment)
            if details is None:
                continue
            context.set_binding(segment[api.ID], VIF_TYPE_PVM_SEA, details)
            LOG.debug('Bound port %(port)s on host %(host)s: %(details)s',
                      {'port': port['id'], 'host': context.host,
                       'details': details})
            return

    def create_port_precommit(self, context):
        self._block_until_agent(context)

    def update_port_precommit(self, context):
        if context.host != context.original_host:
            self._block_until_agent(context)

    def _block_until_agent(self, context):
        """Hold the port DOWN until the host's agent reports it up."""
        port = context.current
        if (not context.host or
                port.get('status') == n_const.PORT_STATUS_ACTIVE or
                (port.get('device_owner') or '').startswith(
                    n_const.DEVICE_OWNER_NETWORK_PREFIX) or
                not self._mine(context) or not self.live_agents(context)):
            return
        # neutron-server's own module: imported only where it runs.
        from neutron.db import provisioning_blocks
        provisioning_blocks.add_provisioning_component(
            context.plugin_context, port['id'], resources.PORT,
            provisioning_blocks.L2_AGENT_ENTITY)

    @staticmethod
    def vif_details(segment):
        """Binding details for a segment, None if it cannot be bound."""
        net_type = segment.get(api.NETWORK_TYPE)
        if net_type not in SUPPORTED_TYPES:
            return None
        details = {portbindings.CAP_PORT_FILTER: False,
                   DETAIL_SEA_AGENT: True,
                   'physical_network': segment.get(api.PHYSICAL_NETWORK)}
        if net_type == n_const.TYPE_VLAN:
            vlan = segment.get(api.SEGMENTATION_ID)
            if not vlan:
                return None
            details[portbindings.VIF_DETAILS_VLAN] = str(vlan)
        else:
            details['network_type'] = n_const.TYPE_FLAT
        return details
