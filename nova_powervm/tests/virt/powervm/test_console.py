"""Unit tests: VNC consoles (console.py) and the driver's hot plug flows."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from pypowervm import exceptions as pvm_exc

from nova_powervm.virt.powervm import console
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm.tasks import network as tf_net
from nova_powervm.virt.powervm.tasks import vm as tf_vm

INST_UUID = '1a2b3c4d-0000-4000-8000-0000000000c1'


def _http_error(status):
    return pvm_exc.HttpError(mock.Mock(status=status, body='',
                                       reqmethod='GET', reqpath='/x'))


class TestConsole(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.open = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.vterm.open_remotable_vnc_vterm',
            return_value=5901)).mock
        self.inst = mock.Mock(uuid=INST_UUID)
        self.inst.name = 'instance-1'
        self.flags(server_proxyclient_address='10.1.2.3', group='vnc')

    def test_console_on_proxyclient_address_path_is_partition(self):
        cons = console.open_vnc('adpt', self.inst)
        pvm_uuid = ids.pvm_uuid(self.inst)
        self.open.assert_called_once_with(
            'adpt', pvm_uuid, '10.1.2.3', vnc_path=pvm_uuid,
            use_x509_auth=False, force=True)
        self.assertEqual(('10.1.2.3', 5901, pvm_uuid),
                         (cons.host, cons.port, cons.internal_access_path))

    def test_x509_options_passed(self):
        self.flags(vnc_use_x509_auth=True, vnc_ca_certs='/ca.pem',
                   vnc_server_cert='/srv.pem', vnc_server_key='/srv.key',
                   group='powervm')
        console.open_vnc('adpt', self.inst)
        self.assertEqual(
            dict(vnc_path=ids.pvm_uuid(self.inst), use_x509_auth=True,
                 ca_certs='/ca.pem', server_cert='/srv.pem',
                 server_key='/srv.key', force=True),
            self.open.call_args[1])

    def test_x509_incomplete_refused_before_anything(self):
        self.flags(vnc_use_x509_auth=True, vnc_ca_certs='/ca.pem',
                   group='powervm')
        err = self.assertRaises(exc.VncX509Incomplete, console.open_vnc,
                                'adpt', self.inst)
        self.assertIn('vnc_server_cert, vnc_server_key', str(err))
        self.assertFalse(self.open.called)

    def test_missing_partition(self):
        self.open.side_effect = _http_error(404)
        self.assertRaises(nova_exc.InstanceNotFound, console.open_vnc,
                          'adpt', self.inst)

    def test_remote_api(self):
        self.open.side_effect = pvm_exc.ConsoleNotLocal()
        err = self.assertRaises(nova_exc.ConsoleTypeUnavailable,
                                console.open_vnc, 'adpt', self.inst)
        self.assertIn('vnc', str(err))

    def test_terminal_command_failed(self):
        self.open.side_effect = pvm_exc.VNCBasedTerminalFailedToOpen(
            err='no such partition')
        err = self.assertRaises(exc.VncConsoleFailed, console.open_vnc,
                                'adpt', self.inst)
        self.assertIsInstance(err, nova_exc.ConsoleNotAvailable)
        self.assertIn('no such partition', str(err))

    @mock.patch.object(console.pvm_private, 'revive_vnc_listener')
    def test_dead_listener_revived_before_open(self, revive):
        revive.side_effect = lambda: self.assertFalse(self.open.called)
        console.open_vnc('adpt', self.inst)
        revive.assert_called_once_with()

    @mock.patch('pypowervm.tasks.vterm.close_vterm')
    def test_close_forgets_path(self, close_vterm):
        with mock.patch.object(console.pvm_private,
                               'forget_vnc_path') as forget:
            console.close('adpt', self.inst)
        forget.assert_called_once_with(ids.pvm_uuid(self.inst))
        close_vterm.assert_called_once_with('adpt', ids.pvm_uuid(self.inst))

    def test_other_http_error(self):
        self.open.side_effect = _http_error(500)
        self.assertRaises(exc.VncConsoleFailed, console.open_vnc, 'adpt',
                          self.inst)


class TestDriverHotplug(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = mock.Mock()
        self.run = self.useFixture(fixtures.MockPatchObject(
            driver.tf_base, 'run')).mock
        self.inst = mock.Mock(uuid=INST_UUID)
        self.inst.name = 'instance-1'
        self.vif = {'id': 'p1', 'type': 'pvm_sea', 'address': 'fa:16:3e:1:2:3',
                    'details': {'vlan': 5}}

    def test_attach_flow(self):
        self.drv.attach_interface(None, self.inst, None, self.vif)
        flow = self.run.call_args[0][0]
        get, check, plug = list(flow)
        self.assertIsInstance(get, tf_vm.Get)
        self.assertIsInstance(check, tf_net.CheckIoModifiable)
        self.assertIsInstance(plug, tf_net.PlugVifs)
        self.assertEqual([self.vif], plug.network_info)
        self.assertTrue(plug.hotplug)
        self.assertFalse(plug.new_partition)
        self.assertIs(self.drv.virtapi, plug.virt_api)
        err = self.run.call_args[1]['exc_class'](task='t', reason='r')
        self.assertIsInstance(err, nova_exc.InterfaceAttachFailed)
        self.assertIn(INST_UUID, str(err))

    def test_attach_bad_vif_type_before_flow(self):
        self.vif['type'] = 'vhostuser'
        err = self.assertRaises(exc.VifTypeNotSupported,
                                self.drv.attach_interface, None, self.inst,
                                None, self.vif)
        self.assertIn('vhostuser', str(err))
        self.run.assert_not_called()
        self.drv.adapter.assert_not_called()

    def test_attach_sea_without_vlan_before_flow(self):
        self.vif['details'] = {}
        self.assertRaises(exc.VifInvalid, self.drv.attach_interface, None,
                          self.inst, None, self.vif)
        self.run.assert_not_called()

    def test_detach_flow(self):
        self.drv.detach_interface(None, self.inst, self.vif)
        flow = self.run.call_args[0][0]
        get, check, unplug = list(flow)
        self.assertIsInstance(get, tf_vm.Get)
        self.assertIsInstance(check, tf_net.CheckIoModifiable)
        self.assertIsInstance(unplug, tf_net.UnplugVif)
        self.assertEqual(self.vif, unplug.vif)
        err = self.run.call_args[1]['exc_class'](task='t', reason='r')
        self.assertIsInstance(err, nova_exc.InterfaceDetachFailed)

    @mock.patch.object(console, 'open_vnc')
    def test_get_vnc_console(self, open_vnc):
        self.assertIs(open_vnc.return_value,
                      self.drv.get_vnc_console(None, self.inst))
        open_vnc.assert_called_once_with(self.drv.adapter, self.inst)
