"""ML2 mechanism driver ``pvm_sea``: binds ports of PowerVM hosts.

Agentless: a port on a VLAN or flat segment of a host this driver serves is
bound with ``vif_type`` ``pvm_sea`` and the segment's VLAN in the binding
details (``vlan``; a flat segment gets ``network_type: flat`` instead).
nova-compute's PowerVM driver then creates the partition's client adapter
with that VLAN and makes the VLAN exist on the host's Shared Ethernet
Adapter (``nova_powervm.virt.powervm.sea_vlan``) before the partition is
powered on.

No agent reports the wiring done, so the driver completes the port's
provisioning itself once the port is bound here (``update_port_postcommit``):
neutron then reports it ACTIVE and sends nova ``network-vif-plugged``
(other provisioning blocks, e.g. a DHCP agent's, still hold it DOWN until
they are done).  The SEA's VLAN is made by nova-compute at plug time, after
that; without this the port stays DOWN and nova-compute gives up waiting for
the event (``vif_plugging_timeout``).

Enable it in ``ml2_conf.ini``::

    [ml2]
    mechanism_drivers = pvm_sea
    [ml2_pvm_sea]
    hosts = novalink1,novalink2    # empty (default): every host

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
SUPPORTED_TYPES = (n_const.TYPE_VLAN, n_const.TYPE_FLAT)

opts = [
    cfg.ListOpt('hosts', default=[],
                help='Hosts (binding:host_id, i.e. nova-compute\'s host '
                     'name) whose ports this driver binds as pvm_sea: the '
                     'hosts running nova-compute with the PowerVM driver. '
                     'Empty: every host.'),
]
cfg.CONF.register_opts(opts, group='ml2_pvm_sea')


def list_opts():
    return [('ml2_pvm_sea', opts)]


class PvmSeaMechanismDriver(api.MechanismDriver):
    """Bind VLAN/flat segments as pvm_sea on PowerVM hosts."""

    def initialize(self):
        self.hosts = frozenset(cfg.CONF.ml2_pvm_sea.hosts)
        LOG.info('pvm_sea mechanism driver serving %s.',
                 ', '.join(sorted(self.hosts)) or 'every host')

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def serves(self, host):
        return bool(host) and (not self.hosts or host in self.hosts)

    def bind_port(self, context):
        """Bind the first VLAN or flat segment with a physical network."""
        port = context.current
        if port.get(portbindings.VNIC_TYPE,
                    portbindings.VNIC_NORMAL) != portbindings.VNIC_NORMAL:
            return
        if not self.serves(context.host):
            LOG.debug('Not binding port %(port)s: host %(host)s is not a '
                      'PowerVM host of this driver.',
                      {'port': port['id'], 'host': context.host})
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

    def update_port_postcommit(self, context):
        """A port bound here is provisioned: no agent will say so."""
        port = context.current
        if (context.vif_type != VIF_TYPE_PVM_SEA or
                port.get('status') == n_const.PORT_STATUS_ACTIVE):
            return
        # neutron-server's own module: imported only where it runs.
        from neutron.db import provisioning_blocks
        provisioning_blocks.provisioning_complete(
            context.plugin_context, port['id'], resources.PORT,
            VIF_TYPE_PVM_SEA)

    @staticmethod
    def vif_details(segment):
        """Binding details for a segment, None if it cannot be bound."""
        net_type = segment.get(api.NETWORK_TYPE)
        if net_type not in SUPPORTED_TYPES:
            return None
        details = {portbindings.CAP_PORT_FILTER: False,
                   'physical_network': segment.get(api.PHYSICAL_NETWORK)}
        if net_type == n_const.TYPE_VLAN:
            vlan = segment.get(api.SEGMENTATION_ID)
            if not vlan:
                return None
            details[portbindings.VIF_DETAILS_VLAN] = str(vlan)
        else:
            details['network_type'] = n_const.TYPE_FLAT
        return details
