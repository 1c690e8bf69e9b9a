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
import contextlib
from unittest import mock

from nova import context as nova_context
from nova import objects
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

    def _slots(self, sim, server):
        """(sorted (MAC, slot), sorted (storage type, storage, slot)) of
        the server's partition's client adapters on ``sim``.
        """
        uuid = self._pvm_uuid(server)
        inv = sim.inventory()
        cnas = sorted((a['mac'], a['slot'])
                      for a in inv['client_adapters'].values()
                      if a['partition'] == uuid)
        scsi = sorted((m['storage_type'], m['storage'], m['client_slot'])
                      for m in inv['scsi_mappings'] if m['client'] == uuid and
                      m['storage_type'] != 'VirtualOpticalMedia')
        return cnas, scsi

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

    @contextlib.contextmanager
    def _on(self, sim):
        """Run the base class's ``self.sim`` helpers against ``sim``."""
        saved, self.sim = self.sim, sim
        try:
            yield
        finally:
            self.sim = saved

    def _disable(self, host):
        """Disable a compute service (the scheduler then skips it)."""
        svc = self.api.get_services(binary='nova-compute', host=host)[0]
        self.api.put_service(svc['id'], {'status': 'disabled'})

    def _unused(self, host):
        self.assertEqual({'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0},
                         self._usages(host))

    def _flavor_usage(self, flavor_id):
        flavor = self.api.get_flavor(flavor_id)
        return {'VCPU': flavor['vcpus'], 'MEMORY_MB': flavor['ram'],
                'DISK_GB': flavor['disk']}

    # -- move operations (waits on the API; nova's helpers wait 10 s for
    # notifications, too short on a loaded machine) ---------------------------
    def _wait_event(self, server, event):
        """Wait until the instance action event ``event`` finished OK."""
        def _done():
            for act in self.api.get_instance_actions(server['id']):
                detail = self.api.api_get(
                    '/servers/%s/os-instance-actions/%s' % (
                        server['id'], act['request_id'])).body
                for ev in detail['instanceAction'].get('events', []):
                    if ev['event'] == event and ev.get('finish_time'):
                        self.assertEqual('Success', ev['result'], ev)
                        return True
            return False
        self._wait_for(_done, 'event %s' % event)

    def _move(self, server, action):
        """resize / migrate through the API; waits for VERIFY_RESIZE."""
        self.api.post_server_action(server['id'], action)
        return self._wait_for_status(server, 'VERIFY_RESIZE')

    def _confirm(self, server):
        self.api.post_server_action(server['id'], {'confirmResize': None})
        self._wait_event(server, 'compute_confirm_resize')
        return self._wait_for_status(server, 'ACTIVE')

    def _revert(self, server):
        self.api.post_server_action(server['id'], {'revertResize': None})
        self._wait_event(server, 'compute_finish_revert_resize')
        return self._wait_for_status(server, 'ACTIVE')

    def _assert_refused(self, server, action, words):
        """``action`` failed with ``words`` in its fault, before anything
        changed on either host; the server is ACTIVE where it was.
        """
        host = self._host_of(server)
        before = {h: self._comparable(sim.inventory())
                  for h, sim in self.sims.items()}
        usages = {h: self._usages(h) for h in self.sims}
        self.api.post_server_action(server['id'], action)
        self._wait_for(lambda: all(w in self._fault_messages(server)
                                   for w in words),
                       'a fault with %s' % words)
        # (nova's _wait_for_migration_status gives up after 5 s.)
        self._wait_for(
            lambda: any(m['instance_uuid'] == server['id'] and
                        m['status'] == 'error'
                        for m in self.admin_api.api_get(
                            '/os-migrations').body['migrations']),
            'its migration in status error')
        server = self._wait_for_status(server, 'ACTIVE')
        self.assertEqual(host, self._host_of(server))
        self.assertEqual(before, {h: self._comparable(sim.inventory())
                                  for h, sim in self.sims.items()})
        self.assertEqual(usages, {h: self._usages(h) for h in self.sims})
        return server

    def _fault_messages(self, server):
        """Messages of the instance faults nova recorded for a server."""
        ctx = nova_context.get_admin_context()
        faults = objects.InstanceFaultList.get_by_instance_uuids(
            ctx, [server['id']])
        return ' '.join('%s %s' % (f.message, f.details) for f in faults)
