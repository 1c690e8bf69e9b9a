"""Every https request verified as its logon was (session, http_conn.Pin).

Against a real local TLS server that can change its certificate between
the logon and a later request on a new connection.
"""
import datetime
import os
import re
import ssl

import fixtures
from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.tests.test_utils import pvmhttp
import requests

from nova_powervm.tests.virt.powervm import http_fixtures
from nova_powervm.tests.virt.powervm import test_http_reuse as t_reuse
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import http_conn
from nova_powervm.virt.powervm import http_reuse
from nova_powervm.virt.powervm import session

LOGON_BODY = open(os.path.join(os.path.dirname(pvmhttp.__file__), '..',
                               'data', 'logon.xml'), 'rb').read()
TOKEN = b'PUIoR6x0kP6fQqA7qZ8sLZQJ8MLx9JHfLCYzT4oGFSE2WaGIhaFXIyQYvbqdKNS8'
LOGON = '/rest/api/web/Logon'
MS = '/rest/api/uom/ManagedSystem'


def _cert(directory, ip='127.0.0.1', days=(-1, 1)):
    """(PEM, TLS server context) of a new self-signed certificate for ip."""
    cert_path, key_path = http_fixtures.self_signed(directory, ip, days)
    with open(cert_path, 'rb') as f:
        pem = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return pem, ctx


def _answer(path):
    # Closed after each answer: the next request opens a new connection.
    if path == LOGON:
        return (t_reuse._ok(LOGON_BODY, b'application/xml',
                            extra=b'X-MC-Type: PVM\r\n'), 'close')
    return (t_reuse._ok(), 'close')


class _Server(t_reuse._WireServer):

    def handle_error(self, request, client_address):
        pass   # pypowervm's certificate probe hangs up without a request


class TestVerifiedSession(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(http_fixtures.FreshPool(http_reuse._Requests()))
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.certdir = self.useFixture(fixtures.TempDir()).path + '/'
        self.pem_a, self.tls_a = _cert(self.tmp)
        self.pem_b, self.tls_b = _cert(self.tmp)
        # What each request asked of the pooled session.
        self.verify = []
        real = http_reuse.PooledSession.request

        def spy(sess, *args, **kwargs):
            self.verify.append(sess.verify)
            return real(sess, *args, **kwargs)
        self.useFixture(fixtures.MockPatchObject(
            http_reuse.PooledSession, 'request', spy))

    def _server(self, tls):
        return http_fixtures.serve(self, _Server(_answer, tls))

    def _pin(self, pem):
        with open(self.certdir + '127_0_0_1.crt', 'wb') as f:
            f.write(pem)

    def _logon(self, srv, protocol='https', certpath=None):
        sess = session.VerifiedSession(
            host='127.0.0.1', port=srv.server_address[1], protocol=protocol,
            username='neo', password='secret', timeout=5,
            certpath=self.certdir if certpath is None else certpath)
        sess._init_by = None   # no logoff at collection
        self.assertEqual(1, sum(LOGON.encode() in r for r in srv.seen))
        del srv.seen[:]
        return sess

    def _later_request(self, srv, tls):
        """A GET on a new connection to the server now presenting tls.

        (The server closed the connection after its last answer.)
        """
        srv.tls = tls
        del srv.seen[:]
        try:
            resp = self.sess.request('GET', MS)
        except pvm_exc.SSLError as e:
            self.assertEqual([], srv.seen)   # nothing sent, no token
            return e
        self.assertEqual(200, resp.status)
        self.assertEqual(1, len(srv.seen))
        self.assertIn(b'X-API-Session: ' + TOKEN, srv.seen[0])
        return None

    def test_pinned_certificate_on_every_connection(self):
        self._pin(self.pem_a)
        srv = self._server(self.tls_a)
        self.sess = self._logon(srv)
        self.assertIsNone(self._later_request(srv, self.tls_a))
        err = self._later_request(srv, self.tls_b)
        self.assertIn('Fingerprints did not match', str(err))
        pin = http_conn.Pin(ssl.PEM_cert_to_DER_cert(self.pem_a.decode()))
        self.assertEqual({pin}, set(self.verify))
        # The pin checks the content only: no CA, no host name.
        self.assertIsNone(self._later_request(srv, self.tls_a))

    def test_ca_verified_on_every_connection(self):
        # No pinned certificate: the logon is verified by the CA bundle.
        self.useFixture(fixtures.EnvironmentVariable('REQUESTS_CA_BUNDLE',
                                                     self.tmp + '/c0.pem'))
        srv = self._server(self.tls_a)
        self.sess = self._logon(srv)
        self.assertIsNone(self._later_request(srv, self.tls_a))
        self.assertIsInstance(self._later_request(srv, self.tls_b),
                              pvm_exc.SSLError)
        self.assertEqual({True}, set(self.verify))

    def test_ca_verified_with_host_name(self):
        # A certificate the bundle trusts, for another address.
        _pem, tls_c = _cert(self.tmp, ip='127.0.0.2')
        with open(self.tmp + '/bundle.pem', 'wb') as f:
            f.write(self.pem_a + _pem)
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', self.tmp + '/bundle.pem'))
        srv = self._server(self.tls_a)
        self.sess = self._logon(srv)
        err = self._later_request(srv, tls_c)
        self.assertIn('127.0.0.1', str(err))   # host name mismatch

    def test_mismatched_pin_refused_at_logon(self):
        # Pinned: the CA bundle trusting the server does not matter.
        self._pin(self.pem_b)
        self.useFixture(fixtures.EnvironmentVariable('REQUESTS_CA_BUNDLE',
                                                     self.tmp + '/c0.pem'))
        srv = self._server(self.tls_a)
        self.assertRaises(pvm_exc.SSLError, self._logon, srv)
        self.assertEqual([], srv.seen)   # no password sent
        # Through build_adapter: a clear error, no secret.
        self.flags(group='powervm', host='127.0.0.1', username='neo',
                   password='Sup3r-S3cret!', certpath=self.certdir,
                   protocol='https', port=srv.server_address[1],
                   conn_tries=1)
        with self.assertLogs('pypowervm', level='WARNING') as logs:
            err = self.assertRaises(exc.RestServerUntrusted,
                                    session.build_adapter)
        self.assertIn('did not present a trusted certificate', str(err))
        self.assertIn('Fingerprints did not match', str(err))
        self.assertNotIn('Sup3r-S3cret!', '\n'.join(logs.output) + str(err))
        self.assertEqual([], srv.seen)

    def _refused_pin(self, days):
        """Why the logon is refused: the pinned certificate presented is
        valid from days[0] to days[1] days from now.
        """
        pem, tls = _cert(self.tmp, days=days)
        self._pin(pem)
        srv = self._server(tls)
        self.flags(group='powervm', host='127.0.0.1', username='neo',
                   password='Sup3r-S3cret!', certpath=self.certdir,
                   protocol='https', port=srv.server_address[1],
                   conn_tries=1)
        err = self.assertRaises(exc.RestServerUntrusted,
                                session.build_adapter)
        self.assertEqual([], srv.seen)   # no password sent
        self.assertIn('127.0.0.1:%d' % srv.server_address[1], str(err))
        self.assertIn(self.certdir + '127_0_0_1.crt for 127.0.0.1', str(err))
        return str(err)

    def test_expired_pin_refused_at_logon(self):
        err = self._refused_pin((-30, -2))
        self.assertRegex(err, r'expired on (\S+) \(valid from (\S+); now ')
        start, end = re.search(r'on (\S+) \(valid from (\S+);',
                               err).group(2, 1)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertAlmostEqual(
            -30, (datetime.datetime.fromisoformat(start) - now).days, delta=1)
        self.assertAlmostEqual(
            -2, (datetime.datetime.fromisoformat(end) - now).days, delta=1)

    def test_not_yet_valid_pin_refused_at_logon(self):
        err = self._refused_pin((2, 30))
        self.assertRegex(err, r'is not valid before \S+ \(valid until \S+; '
                              r'now ')

    def test_empty_certpath_unchanged(self):
        # Checks disabled by the operator: nothing verified, as before.
        self._pin(self.pem_a)
        srv = self._server(self.tls_a)
        self.sess = self._logon(srv, certpath='')
        self.assertIsNone(self._later_request(srv, self.tls_b))
        self.assertEqual({False}, set(self.verify))

    def test_http_unchanged(self):
        self._pin(self.pem_a)
        srv = self._server(None)
        self.sess = self._logon(srv, protocol='http')
        self.assertIsNone(self._later_request(srv, None))
        self.assertEqual({False}, set(self.verify))


class TestPin(t_reuse._LeanBase):
    """http_conn.Pin as a pooled session's verify, either way it sends."""

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.pem_a, self.tls = _cert(tmp)
        self.pem_b, _tls = _cert(tmp)
        self.srv = self._server(tls=self.tls)
        self.url = 'https://127.0.0.1:%d/xml' % self.srv.server_address[1]

    def _get(self, pem, **kwargs):
        sess = self._session()
        sess.verify = http_conn.Pin(ssl.PEM_cert_to_DER_cert(pem.decode()))
        try:
            return sess.request('GET', self.url, timeout=5, **kwargs)
        except requests.exceptions.SSLError as e:
            return e

    def test_lean_and_requests_path(self):
        for kwargs in ({}, {'stream': True}):   # stream: requests' way
            del self.srv.seen[:]
            self.assertEqual(200, self._get(self.pem_a, **kwargs).status_code)
            self.assertIn('Fingerprints did not match',
                          str(self._get(self.pem_b, **kwargs)))
            self.assertEqual(1, len(self.srv.seen))
        self.assertEqual(2, len(self.lean))

    def test_value(self):
        der = ssl.PEM_cert_to_DER_cert(self.pem_a.decode())
        self.assertEqual(http_conn.Pin(der), http_conn.Pin(der))
        self.assertNotEqual(http_conn.Pin(der), http_conn.Pin(der[:-1]))
        self.assertEqual(64, len(http_conn.Pin(der).fingerprint))
        self.assertTrue(http_conn.Pin(der))
