"""Interface attach/detach and VNC consoles through nova's compute API."""

from nova import context as nova_context
from nova import objects
from nova.tests.functional.api import client as api_client

from nova_powervm.simulator import rfb_client
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional import test_iface_console as fconsole


class _Mixin(object):

    def assertGone(self):
        """Nothing of deleted servers left (the image cache stays)."""
        self.assertEqual(self._without_storage(self.start_inventory),
                         self._without_storage(self.sim.inventory()))


class TestInterfaces(_Mixin, base.PowerVMNovaTestCase):
    """os-interface: a client network adapter comes and goes."""

    def setUp(self):
        super().setUp()
        self.port = self.neutron.port_1

    def _macs(self, server):
        """MACs of the server's adapters but its RMC management one."""
        return sorted(xu.text(cna, 'MACAddress')
                      for cna in self._adapters_of(server)
                      if xu.text(cna, 'VirtualSwitchName') != 'MGMTSWITCH')

    def _attach(self, server, port_id):
        return self.api.attach_interface(
            server['id'], {'interfaceAttachment': {'port_id': port_id}})

    def test_attach_detach_running(self):
        server = self._boot()
        # The guest's RMC connection is up: adapters can be hot plugged.
        self.sim.set_rmc(self._pvm_uuid(server))
        before = self.sim.inventory()
        self._attach(server, self.port['id'])
        mac = self.port['mac_address'].replace(':', '').upper()
        self.assertEqual([mac], self._macs(server))
        self.assertEqual('running', self._state(server))
        ports = [i['port_id'] for i in
                 self.api.get_port_interfaces(server['id'])]
        self.assertEqual([self.port['id']], ports)

        self.api.detach_interface(server['id'], self.port['id'])
        self._wait_for(lambda: not self.api.get_port_interfaces(
            server['id']), 'the interface to be detached')
        self.assertEqual([], self._macs(server))
        self.assertInventoryRestored(before)
        self._delete(server)
        self.assertGone()

    def test_attach_stopped(self):
        server = self._boot()
        server = self._action(server, {'os-stop': None}, 'SHUTOFF')
        self._attach(server, self.port['id'])
        self.assertEqual(1, len(self._macs(server)))
        server = self._action(server, {'os-start': None}, 'ACTIVE')
        self.assertEqual(1, len(self._macs(server)))
        self._delete(server)
        self.assertGone()

    def test_unsupported_vif_type_refused_nothing_changed(self):
        server = self._boot()
        self.sim.set_rmc(self._pvm_uuid(server))
        before = self.sim.inventory()
        self.neutron._ports[self.port['id']]['binding:vif_type'] = \
            'vhostuser'
        err = self.assertRaises(api_client.OpenStackApiException,
                                self._attach, server, self.port['id'])
        self.assertEqual(500, err.response.status_code)
        self.assertInventoryRestored(before)
        self.assertEqual([], self.api.get_port_interfaces(server['id']))

    def test_running_without_rmc_refused_nothing_changed(self):
        server = self._boot()
        before = self.sim.inventory()
        self.assertRaises(api_client.OpenStackApiException,
                          self._attach, server, self.port['id'])
        self.assertInventoryRestored(before)

    def test_port_deleted_after_partition_vanished(self):
        """network-vif-deleted for a server whose partition is gone.

        The driver's detach answers InstanceNotFound (nova's convention
        for a guest that is gone: nova logs it at debug); the driver logs a
        warning, no ERROR.
        """
        server = self._boot()
        uuid = self._pvm_uuid(server)
        self.sim.set_rmc(uuid)
        self._attach(server, self.port['id'])
        # The partition disappears behind nova's back.
        self.sim.set_partition_state(uuid, 'not activated')
        self.compute.manager.driver.adapter.delete('LogicalPartition',
                                                   root_id=uuid)
        self.api.create_server_external_events([{
            'name': 'network-vif-deleted', 'server_uuid': server['id'],
            'tag': self.port['id']}])
        failed = ('[nova_powervm.virt.powervm.tasks.base] Flow '
                  'detach_interface_%s failed at step get_vm' % server['id'])
        self._wait_for(lambda: failed in self.stdlog.logger.output,
                       'the detach to find no partition')
        self.assertIn(' WARNING ' + failed, self.stdlog.logger.output)
        self.assertIn('Neutron deleted interface %s' % self.port['id'],
                      self.stdlog.logger.output)
        # nova's and the driver's (stevedore's missing memcache is not).
        self.assertEqual([], [line for line in
                              self.stdlog.logger.output.splitlines()
                              if ' ERROR [nova' in line])


class TestConsole(_Mixin, base.PowerVMNovaTestCase):
    """os-remote-consoles: a noVNC URL whose token leads to the partition's
    terminal, as nova's VNC proxy would follow it.
    """

    # NovaLink's local logon: pypowervm runs the terminal commands.
    POWERVM_FLAGS = {'password': None}

    def setUp(self):
        self.flags(server_proxyclient_address=fconsole.VNC_HOST,
                   group='vnc')
        super().setUp()
        self.useFixture(pvm_fixtures.VncConsoleFixture(self.sim))

    def _console(self, server):
        return self.api.api_post(
            '/servers/%s/remote-consoles' % server['id'],
            {'remote_console': {'protocol': 'vnc', 'type': 'novnc'}}
        ).body['remote_console']

    def test_console_url_leads_to_rfb(self):
        server = self._boot()
        cons = self._console(server)
        self.assertEqual(('vnc', 'novnc'), (cons['protocol'], cons['type']))
        token = rfb_client.console_token(cons['url'])
        # What nova's proxy reads back for the token.
        auth = objects.ConsoleAuthToken.validate(
            nova_context.get_admin_context(), token)
        self.assertEqual(self._pvm_uuid(server), auth.internal_access_path)
        sock, answer, greeting = rfb_client.rfb_connect(
            auth.host, int(auth.port), auth.internal_access_path)
        with sock:
            self.assertEqual(b'HTTP/1.1 200 OK\r\n\r\n', answer)
            self.assertEqual(b'RFB 003.008\n', greeting)
        self.assertTrue(self.sim.vterm_open(self._pvm_uuid(server)))
        # Deleting the server closes its terminal.
        self._delete(server)
        self.assertIsNone(self._lpar(server))
        self.assertGone()

    def test_missing_partition_is_404(self):
        server = self._boot()
        # The partition disappears behind nova's back.
        self.sim.set_partition_state(self._pvm_uuid(server), 'not activated')
        self.compute.manager.driver.adapter.delete(
            'LogicalPartition', root_id=self._pvm_uuid(server))
        before = self.sim.inventory()
        err = self.assertRaises(api_client.OpenStackApiException,
                                self._console, server)
        self.assertEqual(404, err.response.status_code)
        self.assertInventoryRestored(before)
        self.assertFalse(self.sim.inventory()['partitions'].get(
            self._pvm_uuid(server)))
