"""Interface attach/detach and VNC consoles against the REST simulator.

Real pypowervm over HTTP.  The console tests log on with NovaLink's local
(file) authentication, as nova-compute on a NovaLink partition does, so
pypowervm runs the terminal commands: the simulator's ``mkvterm`` /
``rmvterm`` (``simulator/vterm_cmd.py``), first on PATH.  A raw socket then
speaks to the port nova gets, as nova's VNC proxy does.
"""
import os
import random
import ssl
import struct
import time
from unittest import mock

import fixtures
from nova.compute import task_states
from nova import exception as nova_exc
from nova.network import model as network_model

from nova_powervm.simulator.rfb_client import recv_exact
from nova_powervm.simulator.rfb_client import rfb_connect
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import vif as vif_mod
from nova_powervm.virt.powervm import vm

INST = '1a2b3c4d-0000-4000-8000-0000000000c1'
NET = '5c6b1bd3-2c5d-4a3c-8b8a-0e8f4b1a2c3e'
# pypowervm serves every console of a process on port 5901 of
# [vnc] server_proxyclient_address: a loopback address of its own per test
# process keeps parallel test workers apart.
VNC_HOST = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(1, 254),
                             random.randint(2, 254))


def make_vif(n, vif_type='pvm_sea', vlan=100, active=True):
    port = 'bbbbbbbb-0000-4000-8000-%012d' % n
    return network_model.VIF(
        id=port, address='fa:16:3e:00:01:%02x' % n, type=vif_type,
        active=active, details={network_model.VIF_DETAILS_VLAN: vlan},
        devname=('tap' + port)[:14],
        network=network_model.Network(id=NET, bridge='br-int',
                                      label='net', subnets=[]))


class _Base(base.ClassSimTestCase):

    def setUp(self):
        super().setUp()
        self.inst = base.bare_instance(INST, 11, 'vm11')
        self.inst.task_state = None
        self.inst.config_drive = ''
        self.lpar_w = vm.create_lpar(self.drv.adapter, self.drv.host_wrapper,
                                     self.inst)
        self.uuid = self.lpar_w.uuid
        self.os_vif = self.useFixture(
            fixtures.MockPatchObject(vif_mod, 'os_vif')).mock

    def cnas(self):
        return sorted((c['mac'], c['pvid'], c['vswitch'])
                      for c in self.sim.inventory()['client_adapters'].values()
                      if c['partition'] == self.uuid)

    def running(self, rmc=True):
        self.drv.power_on(None, self.inst, [])
        if rmc:
            self.sim.set_rmc(self.uuid, active=True)


class TestInterfaceAttach(_Base):

    def test_attach_detach_stopped(self):
        self.drv.attach_interface(None, self.inst, None, make_vif(1))
        self.assertEqual([('FA163E000101', '100', 'ETHERNET0')], self.cnas())
        self.drv.detach_interface(None, self.inst, make_vif(1))
        self.assertEqual([], self.cnas())

    def test_attach_detach_running_with_rmc(self):
        self.running()
        before = self.sim.inventory()
        self.drv.attach_interface(None, self.inst, None, make_vif(2, vlan=7))
        self.assertEqual([('FA163E000102', '7', 'ETHERNET0')], self.cnas())
        self.assertEqual('running', self.sim.inventory()['partitions'][
            self.uuid]['state'])
        self.drv.detach_interface(None, self.inst, make_vif(2, vlan=7))
        self.assertInventory(before)

    def test_attach_twice_creates_one_adapter(self):
        self.drv.attach_interface(None, self.inst, None, make_vif(1))
        self.drv.attach_interface(None, self.inst, None, make_vif(1))
        self.assertEqual(1, len(self.cnas()))

    def test_ovs_attach_detach(self):
        self.running()
        before = self.sim.inventory()
        ovs = make_vif(3, vif_type='ovs')
        self.drv.attach_interface(None, self.inst, None, ovs)
        self.assertEqual(1, len(self.cnas()))
        self.assertEqual(1, len(self.sim.inventory()['trunk_adapters']))
        self.os_vif.plug.assert_called_once()
        self.drv.detach_interface(None, self.inst, ovs)
        self.os_vif.unplug.assert_called_once()
        self.assertInventory(before)

    def test_running_without_rmc_refused_nothing_changed(self):
        self.running(rmc=False)
        before = self.sim.inventory()
        self.sim.clear_request_log()
        self.assertRaises(exc.PartitionIoNotModifiable,
                          self.drv.attach_interface, None, self.inst, None,
                          make_vif(1))
        self.assertInventory(before)
        self.assertEqual([], [m for m, _p in self.requests() if m != 'GET'])

    def test_unsupported_vif_type_refused_before_any_request(self):
        self.sim.clear_request_log()
        err = self.assertRaises(
            nova_exc.VirtualInterfacePlugException,
            self.drv.attach_interface, None, self.inst, None,
            make_vif(1, vif_type='bridge'))
        self.assertIsInstance(err, exc.VifTypeNotSupported)
        self.assertIn('bridge', str(err))
        self.assertEqual([], self.requests())

    def test_failed_attach_leaves_partition_as_it_was(self):
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path='ClientNetworkAdapter',
                              status=500, times=1)
        self.assertRaises(exc.VifPlugFailed, self.drv.attach_interface,
                          None, self.inst, None, make_vif(1))
        self.assertInventory(before)

    def test_failed_detach_leaves_adapter(self):
        self.drv.attach_interface(None, self.inst, None, make_vif(1))
        before = self.sim.inventory()
        self.sim.inject_fault(method='DELETE', path='ClientNetworkAdapter',
                              status=500, times=1)
        self.assertRaises(exc.VifUnplugFailed, self.drv.detach_interface,
                          None, self.inst, make_vif(1))
        self.assertInventory(before)

    def test_attach_waits_for_vif_plugged_event(self):
        self.flags(vif_plugging_timeout=30)
        self.drv.virtapi = mock.MagicMock()
        self.drv.attach_interface(None, self.inst, None,
                                  make_vif(4, active=False))
        args, kwargs = self.drv.virtapi.wait_for_instance_event.call_args
        self.assertEqual([('network-vif-plugged', make_vif(4)['id'])],
                         args[1])
        self.assertEqual(1, len(self.cnas()))

    def test_attach_missing_partition(self):
        other = base.bare_instance('1a2b3c4d-0000-4000-8000-0000000000c9',
                                   12, 'vm12')
        self.assertRaises(nova_exc.InstanceNotFound,
                          self.drv.attach_interface, None, other, None,
                          make_vif(1))


def rfb_init(sock):
    """Finish the RFB 3.8 handshake (security None); the desktop name."""
    sock.sendall(b'RFB 003.008\n')
    count = sock.recv(1)[0]
    types = sock.recv(count)
    assert 1 in types, types
    sock.sendall(b'\x01')
    assert struct.unpack('!I', sock.recv(4))[0] == 0
    sock.sendall(b'\x01')
    head = b''
    while len(head) < 24:
        head += sock.recv(24 - len(head))
    name_len = struct.unpack('!I', head[20:24])[0]
    return sock.recv(name_len)


class TestVncConsole(_Base):

    def setUp(self):
        super().setUp()
        self.useFixture(pvm_fixtures.VncConsoleFixture(self.sim))
        self.flags(server_proxyclient_address=VNC_HOST, group='vnc')
        # NovaLink's local logon: pypowervm runs the terminal commands.
        self.flags(group='powervm', password=None)
        self.drv = self.new_driver()
        self.assertTrue(self.drv.adapter.traits.local_api)

    def wait_closed(self):
        deadline = time.monotonic() + 60
        while self.sim.vnc_console(self.uuid) is not None:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

    def test_console_handshake(self):
        self.running(rmc=False)
        cons = self.drv.get_vnc_console(None, self.inst)
        self.assertEqual(VNC_HOST, cons.host)
        self.assertEqual(self.uuid, cons.internal_access_path)
        self.assertTrue(self.sim.inventory()['partitions'][self.uuid][
            'vterm'])
        sock, answer, greeting = rfb_connect(cons.host, cons.port,
                                             cons.internal_access_path)
        with sock:
            self.assertEqual(b'HTTP/1.1 200 OK\r\n\r\n', answer)
            self.assertEqual(b'RFB 003.008\n', greeting)
            self.assertEqual(self.inst.name.encode(), rfb_init(sock))
        # A second request reuses the open terminal.
        again = self.drv.get_vnc_console(None, self.inst)
        self.assertEqual((cons.host, cons.port), (again.host, again.port))
        self.assertEqual(1, self.sim.vnc_console(self.uuid)['sessions'])

    def test_console_threads_stopped_at_cleanup(self):
        # A client that left makes pypowervm start a thread that closes
        # the terminal 5 minutes later (reading the partition's id): the
        # fixture stops it and the repeater, before the simulator stops.
        from pypowervm.tasks import vterm as pvm_vterm
        cons = self.drv.get_vnc_console(None, self.inst)
        sock, _answer, greeting = rfb_connect(cons.host, cons.port,
                                              cons.internal_access_path)
        sock.close()
        self.assertEqual(b'RFB 003.008\n', greeting)
        repeaters = list(pvm_vterm._VNC_LOCAL_PORT_TO_REPEATER.values())
        self.assertEqual(1, len(repeaters))
        deadline = time.monotonic() + 60
        while repeaters[0].vnc_killer is None:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        killer = repeaters[0].vnc_killer
        pvm_fixtures.stop_vnc_threads()
        self.assertFalse(repeaters[0].is_alive())
        self.assertFalse(killer.is_alive())
        self.assertEqual({}, pvm_vterm._VNC_LOCAL_PORT_TO_REPEATER)

    def test_operator_terminal_is_taken_over(self):
        # An operator's terminal session without VNC (mkvterm without
        # --vnc): the console closes it and opens one as VNC.
        self.sim.open_vterm(self.uuid)
        cons = self.drv.get_vnc_console(None, self.inst)
        sock, answer, greeting = rfb_connect(cons.host, cons.port,
                                             cons.internal_access_path)
        sock.close()
        self.assertEqual(b'RFB 003.008\n', greeting)

    def test_unknown_path_refused(self):
        self.drv.get_vnc_console(None, self.inst)
        sock, answer, _greeting = rfb_connect(VNC_HOST, 5901, 'nope')
        sock.close()
        self.assertTrue(answer.startswith(b'HTTP/1.1 400'), answer)

    def test_destroy_closes_console(self):
        self.drv.get_vnc_console(None, self.inst)
        self.assertIsNotNone(self.sim.vnc_console(self.uuid))
        self.drv.destroy(None, self.inst, [])
        self.assertIsNone(self.sim.get_object('LogicalPartition', self.uuid))
        self.wait_closed()

    def test_stale_console_path_does_not_break_later_consoles(self):
        # nova's proxy may still hold a token of a deleted instance's
        # console; connecting with it must not stop the shared listener.
        cons = self.drv.get_vnc_console(None, self.inst)
        self.drv.destroy(None, self.inst, [])
        self.wait_closed()
        sock, answer, greeting = rfb_connect(cons.host, cons.port,
                                             cons.internal_access_path)
        sock.close()
        self.assertEqual(b'', greeting)
        other = base.bare_instance('1a2b3c4d-0000-4000-8000-0000000000c8',
                                   13, 'vm13')
        other.config_drive = ''
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, other)
        cons = self.drv.get_vnc_console(None, other)
        sock, answer, greeting = rfb_connect(cons.host, cons.port,
                                             cons.internal_access_path)
        sock.close()
        self.assertEqual(b'RFB 003.008\n', greeting)
        self.drv.destroy(None, other, [])

    def test_missing_partition(self):
        other = base.bare_instance('1a2b3c4d-0000-4000-8000-0000000000c9',
                                   12, 'vm12')
        before = self.sim.inventory()
        self.assertRaises(nova_exc.InstanceNotFound,
                          self.drv.get_vnc_console, None, other)
        self.assertInventory(before)

    def test_remote_api_console_unavailable(self):
        self.flags(group='powervm', password=self.sim.password)
        drv = self.new_driver()
        self.assertRaises(nova_exc.ConsoleTypeUnavailable,
                          drv.get_vnc_console, None, self.inst)
        self.assertFalse(self.sim.vterm_open(ids.pvm_uuid(self.inst)))


class TestSpawnStateUnaffected(_Base):
    """Hot plug keys off hotplug=True, not the task state."""

    def test_spawning_state_attach(self):
        self.inst.task_state = task_states.SPAWNING
        self.drv.attach_interface(None, self.inst, None, make_vif(5))
        self.assertEqual(1, len(self.cnas()))


def _x509_files(dirname):
    """A CA, a server and a client certificate (PEM files in dirname)."""
    import datetime

    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def cert(name, pub, issuer, signer, ca=False):
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(
                    NameOID.COMMON_NAME, name)]))
                .issuer_name(issuer).public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                               critical=True)
                .sign(signer, hashes.SHA256()))

    def write(name, obj):
        path = os.path.join(dirname, name)
        with open(path, 'wb') as f:
            if isinstance(obj, rsa.RSAPrivateKey):
                f.write(obj.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption()))
            else:
                f.write(obj.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'test-ca')])
    ca = cert('test-ca', ca_key.public_key(), ca_name, ca_key, ca=True)
    files = {'ca': write('ca.pem', ca)}
    for who in ('server', 'client'):
        k = key()
        files[who] = write(who + '.pem', cert(who, k.public_key(), ca_name,
                                              ca_key))
        files[who + '_key'] = write(who + '.key', k)
    return files


class TestVncX509(_Base):
    """vnc_use_x509_auth: VeNCrypt X509None, TLS with client certificates.

    pypowervm reads the certificates when it creates its (per process)
    listener, so this test replaces the listener for its duration.
    """

    def setUp(self):
        super().setUp()
        self.useFixture(pvm_fixtures.VncConsoleFixture(self.sim))
        self.files = _x509_files(self.useFixture(fixtures.TempDir()).path)
        self.flags(server_proxyclient_address=VNC_HOST, group='vnc')
        self.flags(group='powervm', password=None, vnc_use_x509_auth=True,
                   vnc_ca_certs=self.files['ca'],
                   vnc_server_cert=self.files['server'],
                   vnc_server_key=self.files['server_key'])
        self._stop_listener()
        self.addCleanup(self._stop_listener)
        self.drv = self.new_driver()

    @staticmethod
    def _stop_listener():
        from pypowervm.tasks import vterm as pvm_vterm
        listener = pvm_vterm._VNC_REMOTE_PORT_TO_LISTENER.get(
            pvm_vterm._REMOTE_PORT)
        if listener is not None:
            listener.stop()
            listener.join(5)

    def _vencrypt(self, sock, client_cert=True):
        self.assertEqual(b'RFB 003.008\n', recv_exact(sock, 12))
        sock.sendall(b'RFB 003.008\n')
        # One security type, VeNCrypt (19), version 0.2.
        self.assertEqual(b'\x01\x13\x00\x02', recv_exact(sock, 4))
        sock.sendall(b'\x13\x00\x02')
        self.assertEqual(b'\x00', recv_exact(sock, 1))
        # One sub-type: X509None (260).
        self.assertEqual(b'\x01' + struct.pack('!I', 260),
                         recv_exact(sock, 5))
        sock.sendall(struct.pack('!I', 260))
        self.assertEqual(b'\x01', recv_exact(sock, 1))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(self.files['ca'])
        if client_cert:
            ctx.load_cert_chain(self.files['client'],
                                self.files['client_key'])
        return ctx.wrap_socket(sock)

    def test_vencrypt_x509(self):
        cons = self.drv.get_vnc_console(None, self.inst)
        sock, answer, _greeting = rfb_connect(cons.host, cons.port,
                                              cons.internal_access_path,
                                              greeting=False)
        self.assertEqual(b'HTTP/1.1 200 OK\r\n\r\n', answer)
        tls = self._vencrypt(sock)
        with tls:
            # The server's SecurityResult, then the RFB session, in TLS.
            self.assertEqual(b'\0\0\0\0', recv_exact(tls, 4))
            tls.sendall(b'\x01')
            head = recv_exact(tls, 24)
            name = recv_exact(tls, struct.unpack('!I', head[20:24])[0])
            self.assertEqual(self.inst.name.encode(), name)

    def test_client_without_certificate_refused(self):
        cons = self.drv.get_vnc_console(None, self.inst)
        sock, _answer, _greeting = rfb_connect(cons.host, cons.port,
                                               cons.internal_access_path,
                                               greeting=False)
        with sock:
            def handshake():
                tls = self._vencrypt(sock, client_cert=False)
                # TLS 1.3 reports the refusal on the first read.
                tls.sendall(b'\x01')
                return tls.recv(1)
            self.assertRaises((ssl.SSLError, ConnectionError, OSError),
                              handshake)
