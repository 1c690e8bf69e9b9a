"""pypowervm's requests through pooled HTTP sessions (http_reuse)."""
import http.server
import threading
from unittest import mock

import fixtures
from nova import test
from pypowervm import adapter as pvm_adpt
import requests

from nova_powervm.virt.powervm import http_reuse


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def setup(self):
        # One handler per TCP connection.  (Client ports do not tell
        # connections apart: loopback reuses a TIME_WAIT port.)
        super().setup()
        self.server.connections += 1

    def do_GET(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.server.seen.append((self.client_address[1],
                                 self.headers.get('Cookie')))
        body = 'caf\u00e9'.encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'application/atom+xml')
        self.send_header('Set-Cookie', 'JSESSIONID=1')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.seen = []
        self.connections = 0


class TestHttpReuse(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        # The real module: a driver started earlier in this test process
        # (a functional test on the same worker) may have installed pooling.
        self.useFixture(fixtures.MockPatchObject(pvm_adpt, 'requests',
                                                 requests))
        self.useFixture(fixtures.MockPatchObject(http_reuse, '_idle', []))
        self.useFixture(fixtures.MockPatchObject(http_reuse, '_environment',
                                                 {}))
        self.addCleanup(http_reuse.close_idle)
        for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy',
                     'https_proxy', 'no_proxy', 'REQUESTS_CA_BUNDLE',
                     'CURL_CA_BUNDLE'):
            self.useFixture(fixtures.EnvironmentVariable(name))

    def _server(self):
        srv = _Server()
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv

    def _pvm_session(self, port):
        """A pypowervm Session (logon skipped) to the local server."""
        with mock.patch.object(pvm_adpt.Session, '_logon'):
            sess = pvm_adpt.Session(host='127.0.0.1', port=port,
                                    protocol='http', username='u',
                                    password='p', timeout=10)
        sess._init_by = None    # no logoff at collection
        return sess

    def test_install_replaces_pypowervm_session_factory(self):
        # Guards the one pypowervm internal this relies on: its adapter
        # module builds every request's session as requests.Session().
        http_reuse.install()
        http_reuse.install()
        self.assertTrue(http_reuse.installed())
        self.assertIsInstance(pvm_adpt.requests.Session(),
                              http_reuse.PooledSession)
        self.assertIs(pvm_adpt.requests.exceptions.ConnectionError,
                      pvm_adpt.rqex.ConnectionError)

    def test_requests_share_one_connection(self):
        srv = self._server()
        http_reuse.install()
        sess = self._pvm_session(srv.server_address[1])
        bodies = [sess.request('GET', '/a', login=True).body,
                  sess.request('POST', '/b', body='<x/>', login=True).body,
                  sess.request('GET', '/c', login=True).body]
        # One TCP connection; the cookie the server set is not sent back
        # (as from a new session); XML without charset read as UTF-8.
        self.assertEqual(1, srv.connections)
        self.assertEqual([None, None, None], [c for _p, c in srv.seen])
        self.assertEqual(['caf\u00e9'] * 3, bodies)

    def test_without_install_each_request_connects(self):
        srv = self._server()
        sess = self._pvm_session(srv.server_address[1])
        sess.request('GET', '/a', login=True)
        sess.request('GET', '/b', login=True)
        self.assertEqual(2, len(srv.seen))
        self.assertEqual(2, srv.connections)

    def test_concurrent_requests_get_their_own_session(self):
        one = http_reuse._take()
        two = http_reuse._take()
        self.assertIsNot(one, two)
        two.close()
        one.close()
        # The last one returned is handed out first.
        self.assertIs(one, http_reuse._take())
        self.assertIs(two, http_reuse._take())

    def test_idle_pool_bounded(self):
        sessions = [http_reuse._take()
                    for _ in range(http_reuse.MAX_IDLE + 2)]
        with mock.patch.object(http_reuse.PooledSession,
                               'discard') as discard:
            for sess in sessions:
                sess.close()
        self.assertEqual(2, discard.call_count)
        self.assertEqual(http_reuse.MAX_IDLE, len(http_reuse._idle))

    def test_expired_sessions_closed_not_reused(self):
        clock = self.useFixture(fixtures.MockPatchObject(
            http_reuse.time, 'monotonic', return_value=100.0)).mock
        discarded = []
        self.useFixture(fixtures.MockPatchObject(
            http_reuse.PooledSession, 'discard',
            lambda sess: discarded.append(sess)))
        old, older = http_reuse._take(), http_reuse._take()
        older.close()
        clock.return_value = 104.0
        old.close()
        clock.return_value = 100.0 + http_reuse.IDLE_S + 1
        # 'old' (returned at 104) is still young; 'older' is closed.
        self.assertIs(old, http_reuse._take())
        self.assertEqual([older], discarded)
        self.assertEqual([], http_reuse._idle)
        clock.return_value = 200.0
        old.close()
        clock.return_value = 200.0 + http_reuse.IDLE_S + 1
        self.assertIsNot(old, http_reuse._take())
        self.assertEqual([older, old], discarded)

    def test_environment_proxies_and_ca_bundle(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'HTTPS_PROXY', 'http://proxy.example.com:3128'))
        self.useFixture(fixtures.EnvironmentVariable(
            'NO_PROXY', 'local.example.com'))
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', '/etc/pvm/ca.pem'))
        sess = http_reuse.PooledSession()
        got = sess.merge_environment_settings(
            'https://pvm.example.com:12443/rest/api/web/Logon', {}, False,
            True, None)
        self.assertEqual('http://proxy.example.com:3128',
                         got['proxies']['https'])
        self.assertEqual('/etc/pvm/ca.pem', got['verify'])
        # pypowervm's usual verify=False stays; a no_proxy host goes direct.
        got = sess.merge_environment_settings(
            'https://local.example.com:12443/x', {}, False, False, None)
        self.assertNotIn('https', got['proxies'])
        self.assertFalse(got['verify'])

    def test_lean_request_verifies_with_environment_ca_bundle(self):
        # The lean path passes no verify of its own: a session verifying
        # with the default bundle takes REQUESTS_CA_BUNDLE, as requests'
        # own path does; a session's own certificate path or False stays.
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', '/etc/pvm/ca.pem'))
        url = 'https://pvm.example.com:12443/rest/api/uom/ManagedSystem'
        for session_verify, expected in ((True, '/etc/pvm/ca.pem'),
                                         ('/etc/pvm/cert.pem',
                                          '/etc/pvm/cert.pem'),
                                         (False, False)):
            sess = http_reuse.PooledSession()
            sess.verify = session_verify
            _prep, kw = self._sent(lambda: sess.request('GET', url))
            self.assertEqual(expected, kw['verify'])

    def _sent(self, call):
        """(prepared request, send keywords) of one request() call."""
        sent = []
        with mock.patch.object(http_reuse.PooledSession, 'send',
                               lambda s, prep, **kw: sent.append((prep, kw))):
            call()
        return sent[0]

    def test_lean_request_prepares_as_requests_does(self):
        # pypowervm's calls: the lean path sends what requests' own
        # Session.request would (headers merged with the session's, the
        # body and its length, no cookies, the session's hooks, settings).
        self.useFixture(fixtures.EnvironmentVariable(
            'HTTPS_PROXY', 'http://proxy.example.com:3128'))
        sess = http_reuse.PooledSession()
        sess.verify = '/etc/pvm/cert.pem'
        url = 'https://pvm.example.com:12443/rest/api/uom/LogicalPartition'
        for kwargs in ({'data': '<x/>', 'headers': {'Accept': 'a/b',
                                                    'X-API-Session': 't'}},
                       {'data': '', 'headers': {'User-Agent': None}},
                       {'stream': True, 'headers': {}}):
            for method in ('GET', 'put'):
                lean, lean_kw = self._sent(lambda: sess.request(
                    method, url, timeout=7, **kwargs))
                full, full_kw = self._sent(lambda: requests.Session.request(
                    sess, method, url, timeout=7, **kwargs))
                self.assertEqual(
                    (full.method, full.url, dict(full.headers), full.body,
                     full.hooks), (lean.method, lean.url, dict(lean.headers),
                                   lean.body, lean.hooks))
                self.assertEqual(full_kw, lean_kw)
                self.assertEqual(0, len(lean._cookies))
        self.assertEqual('http://proxy.example.com:3128',
                         lean_kw['proxies']['https'])
        self.assertEqual('/etc/pvm/cert.pem', lean_kw['verify'])
        self.assertTrue(lean_kw['stream'])

    def test_other_requests_take_requests_path(self):
        sess = http_reuse.PooledSession()
        url = 'http://127.0.0.1:1/x'
        with mock.patch.object(requests.Session, 'request') as full:
            sess.request('GET', url, params={'a': 1})
            sess.request('GET', 'http://u:p@127.0.0.1:1/x')
            sess.cookies.set('JSESSIONID', '1')
            sess.request('GET', url)
        self.assertEqual(3, full.call_count)

    def test_environment_settings_as_requests_merges_them(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'HTTP_PROXY', 'http://proxy.example.com:3128'))
        sess = http_reuse.PooledSession()
        url = 'http://pvm.example.com:12080/rest'
        for args in (({}, None, None, None), ({'http': None}, True, False,
                                               'c.pem'),
                     ({'https': 'http://p2:1'}, False, '/ca', None)):
            proxies = dict(args[0])
            env = dict(http_reuse._env(url)[0], **proxies)
            want = requests.Session.merge_environment_settings(
                sess, url, env, *args[1:])
            self.assertEqual(want, sess.merge_environment_settings(
                url, proxies, *args[1:]))
        sess.proxies = {'http': 'http://p3:1'}
        self.assertEqual({'http': 'http://proxy.example.com:3128'},
                         dict(sess.merge_environment_settings(
                             url, None, None, None, None)['proxies']))
