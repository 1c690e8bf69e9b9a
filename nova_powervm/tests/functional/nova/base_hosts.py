"""Two nova-compute services, each with its own PowerVMDriver and host.

``TwoHostsTestCase`` starts ``SimulatorFixture(hosts=2)`` (two managed
systems, own endpoints, one SSP cluster and one FC fabric) and one
nova-compute service per simulated host.

How each driver gets its own host although nova's CONF is one per
process: the driver reads the ``[powervm]`` endpoint options only in
``init_host`` (``session.build_adapter``; later reads are of the adapter,
not of CONF), so the harness sets them to host *i* just before it starts
compute *i*.  The node name and UUID are captured in ``init_host`` too
(``driver_node``: not ``CONF.host``, which nova's ``start_service``
leaves at the last started service), and nova's local node UUID is
patched per service while it starts, as nova's own multi-host libvirt
tests do.  Options read at run time (disk driver, volume group name, ...)
are the same for both services, which suits two identical hosts.
"""
from unittest import mock

from oslo_utils.fixture import uuidsentinel as uuids

from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional.nova import base

COMPUTE_HOST2 = 'powervm-compute2'


class TwoHostsTestCase(base.PowerVMNovaTestCase):
    """Base class: two computes (``self.compute``, ``self.compute2``).

    ``self.sim`` / ``self.sim2`` are their simulated hosts,
    ``self.start_inventory`` / ``self.start_inventory2`` their inventories
    after both services started.  nova may resize to the same host.
    """

    HOSTS = 2

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=True)
        self.sim2 = self.sim_fx.sims[1]
        self.flags(group='powervm', **self.sim_fx.flags_for_conf(1))
        self.addCleanup(self._log_off, 'compute2')
        with mock.patch('nova.virt.node.get_local_node_uuid',
                        return_value=uuids.powervm_node2):
            self.compute2 = self._start_compute(COMPUTE_HOST2)
        self.sims = {base.COMPUTE_HOST: self.sim, COMPUTE_HOST2: self.sim2}
        self.start_inventory = self.sim.inventory()
        self.start_inventory2 = self.sim2.inventory()

    def _log_off(self, attr):
        compute = getattr(self, attr, None)
        adapter = compute and getattr(compute.manager.driver, 'adapter', None)
        if adapter is not None:
            adapter.session._logoff()

    # -- where things are --------------------------------------------------
    def _host_of(self, server):
        """The compute host nova records for a server."""
        return self.api.get_server(server['id'])['OS-EXT-SRV-ATTR:host']

    def _lpar_on(self, sim, server):
        """A server's partition element on one simulated host (or None)."""
        return sim.get_object('LogicalPartition', self._pvm_uuid(server))

    def _rp_uuid(self, host):
        return self._get_provider_uuid_by_host(host)

    def _usages(self, host):
        """Placement usages of a compute host's resource provider."""
        return self._get_provider_usages(self._rp_uuid(host))

    def _proc_mem(self, lpar):
        """(desired virtual processors, desired memory MB) of a partition."""
        return (int(xu.text(lpar, 'PartitionProcessorConfiguration/'
                              'SharedProcessorConfiguration/'
                              'DesiredVirtualProcessors') or
                    xu.text(lpar, 'PartitionProcessorConfiguration/'
                            'DedicatedProcessorConfiguration/'
                            'DesiredProcessors')),
                int(xu.text(lpar, 'PartitionMemoryConfiguration/'
                            'DesiredMemory')))
