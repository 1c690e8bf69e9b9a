"""The compute node of a PowerVMDriver: its name and identity.

One compute service manages one managed system: one nova node, named
after the service's host (``init_host``'s ``host``, i.e. ``CONF.host``)
and identified by nova's local node UUID.  Both are captured when the
service starts (the name in ``init_host``, the UUID when nova first asks
for it), not read from the process-wide configuration later, so
several compute services in one process (nova-in-the-loop tests with two
hosts) each report their own node.
"""
import nova.virt.node

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import host as pvm_host
from nova_powervm.virt.powervm import session as pvm_session

CONF = cfg.CONF


class NodeMixin(object):
    """get_available_nodes / get_nodenames_by_uuid / resources."""

    _nodename = None
    _node_uuid = None

    def _capture_node(self, host):
        """Remember this service's node name (init_host)."""
        self._nodename = host

    def get_available_nodes(self, refresh=False):
        """One node per compute service, named after its host."""
        return [self._nodename or CONF.host]

    def get_nodenames_by_uuid(self, refresh=False):
        """{node UUID: node name} of this service's one node.

        nova's local node UUID is read on the first call (nova-compute's
        start, right after init_host) and kept.
        """
        if self._node_uuid is None:
            self._node_uuid = nova.virt.node.get_local_node_uuid()
        return {self._node_uuid: self.get_available_nodes()[0]}

    def get_available_resource(self, nodename):
        """Resources of the managed system (re-read: one GET)."""
        self.host_wrapper = pvm_session.get_host_wrapper(self.adapter)
        res = pvm_host.build_host_resource(self.host_wrapper, nodename,
                                           self.disk_dvr)
        if self._node_uuid:
            res['uuid'] = self._node_uuid
        return res
