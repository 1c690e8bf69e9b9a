"""pypowervm's requests through pooled HTTP sessions (http_reuse)."""
import functools
import gzip
import http.server
import io
import re
import socket
import socketserver
import ssl
import threading
import time
from unittest import mock

import fixtures
from nova import test
from pypowervm import adapter as pvm_adpt
import requests
from urllib3 import connectionpool as u3_pool
from urllib3 import exceptions as u3_exc

from nova_powervm.tests.virt.powervm import http_fixtures
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
        self.useFixture(http_fixtures.FreshPool(requests))

    def _server(self):
        return http_fixtures.serve(self, _Server())

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


class _WireHandler(socketserver.StreamRequestHandler):
    """Records each request's bytes; answers what the server's script says.

    The script maps a request path to the raw answer, or to (raw answer,
    'close') to close the connection after it, or (seconds, raw answer)
    to wait first.
    """

    def handle(self):
        self.server.connections += 1
        while True:
            head = b''
            while not head.endswith(b'\r\n\r\n'):
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            length = re.search(rb'(?im)^content-length: *(\d+)', head)
            body = self.rfile.read(int(length.group(1))) if length else b''
            self.server.seen.append(head + body)
            answer = self.server.script(head.split(b' ')[1].decode())
            if isinstance(answer[0], float):
                time.sleep(answer[0])
                answer = answer[1]
            close = isinstance(answer, tuple)
            self.wfile.write(answer[0] if close else answer)
            if close:
                return


class _WireServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, script, tls=None):
        super().__init__(('127.0.0.1', 0), _WireHandler)
        self.script, self.tls = script, tls
        self.seen = []
        self.connections = 0

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr


def _ok(body=b'<a>caf\xc3\xa9</a>', ctype=b'application/atom+xml',
        status=b'200 OK', extra=b''):
    return (b'HTTP/1.1 ' + status + b'\r\nContent-Type: ' + ctype +
            b'\r\nX-Transaction-ID: XT1\r\n' + extra +
            b'Content-Length: %d\r\n\r\n' % len(body) + body)


_ANSWERS = {
    '/xml': _ok(),
    '/json': _ok(b'{"a": "\xc3\xa9"}', b'application/json'),
    '/none': b'HTTP/1.1 204 No Content\r\n\r\n',
    '/same': b'HTTP/1.1 304 Not Modified\r\nETag: 5\r\n\r\n',
    '/etag': _ok(b'<HttpErrorResponse/>', status=b'412 Precondition Failed'),
    '/fail': _ok(b'<b>oops</b>', b'text/html',
                 b'500 Internal Server Error'),
    '/plain': _ok(b'caf\xe9', b'text/plain'),
    '/chunks': (b'HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\n'
                b'Transfer-Encoding: chunked\r\n\r\n4\r\n<a>x\r\n'
                b'4\r\n</a>\r\n0\r\n\r\n'),
    '/gzip': _ok(gzip.compress(b'<zipped/>'), extra=b'Content-Encoding: '
                 b'gzip\r\n'),
    '/moved': b'HTTP/1.1 302 Found\r\nLocation: /xml\r\nContent-Length: 0'
              b'\r\nSet-Cookie: s=1\r\n\r\n',
    '/short': (b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'close'),
    '/badchunk': (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                  b'zz\r\nabc\r\n', 'close'),
    '/bye': (_ok(), 'close'),
    '/slow': (1.0, _ok()),
}


class _LeanBase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(http_fixtures.CleanEnvironment())
        # Requests this test's thread sent the lean way (not, say, another
        # test's event listener thread still polling).
        self.lean = []
        real = http_reuse.PooledSession._lean_send
        mine = threading.get_ident()

        def lean_send(sess, *args):
            if threading.get_ident() == mine:
                self.lean.append(args[2])
            return real(sess, *args)
        self.useFixture(fixtures.MockPatchObject(
            http_reuse.PooledSession, '_lean_send', lean_send))

    def _server(self, tls=None, script=lambda path: _ANSWERS[
            path.split('?')[0]]):
        return http_fixtures.serve(self, _WireServer(script, tls))

    def _session(self):
        sess = http_reuse.PooledSession()
        self.addCleanup(sess.discard)
        return sess

    @staticmethod
    def _call(how, sess, method, url, **kwargs):
        """One request the lean way or requests' way; (response, error)."""
        if how == 'lean':
            call = sess.request
        else:   # requests' path, urllib3's own connections
            for prefix in ('http://', 'https://'):
                sess.mount(prefix, requests.adapters.HTTPAdapter())
            call = functools.partial(requests.Session.request, sess)
        try:
            return call(method, url, timeout=kwargs.pop('timeout', 5),
                        **kwargs), None
        except Exception as e:
            return None, type(e)

    @staticmethod
    def _seen(resp):
        if resp is None:
            return None
        return (resp.status_code, resp.reason, dict(resp.headers),
                resp.encoding, resp.content, resp.text, resp.url,
                [r.url for r in resp.history], resp.request.method,
                resp.request.url, dict(resp.request.headers),
                resp.request.body)

    def _both(self, base, method, path, settings=None, **kwargs):
        """Each way on a fresh session: same answer, same bytes sent.

        :param settings: the sessions' attributes (verify, cert).
        """
        srv = base if isinstance(base, _WireServer) else None
        url = (base if srv is None else 'http://127.0.0.1:%d' %
               srv.server_address[1]) + path
        got = {}
        for how in ('requests', 'lean'):
            calls = len(self.lean)
            if srv is not None:
                del srv.seen[:]
            sess = self._session()
            for name, value in (settings or {}).items():
                setattr(sess, name, value)
            resp, err = self._call(how, sess, method, url, **dict(kwargs))
            got[how] = (self._seen(resp), err,
                        list(srv.seen) if srv is not None else None)
            self.assertEqual(int(how == 'lean'), len(self.lean) - calls)
        self.assertEqual(got['requests'], got['lean'], (method, path))
        return got['lean']


class TestLeanPath(_LeanBase):
    """The lean path sends and answers what requests' own path does."""

    def test_same_bytes_and_answers(self):
        srv = self._server()
        for method, path, kwargs in (
                ('GET', '/xml', {'data': '', 'headers': {
                    'Accept': 'application/atom+xml', 'X-API-Session': 't',
                    'X-Audit-Memento': 'nova'}}),
                ('put', '/xml', {'data': '<a>caf\u00e9</a>', 'headers': {
                    'Content-Type': 'application/xml', 'If-Match': '"3"',
                    'User-Agent': None}}),
                ('POST', '/json', {'data': b'<b/>', 'headers': {}}),
                ('DELETE', '/none', {'data': ''}),
                ('GET', '/same', {}), ('GET', '/etag', {}),
                ('POST', '/fail', {'data': 'x'}), ('GET', '/plain', {}),
                ('GET', '/chunks', {}), ('GET', '/gzip', {}),
                ('GET', '/moved', {}), ('HEAD', '/xml', {}),
                ('GET', '/xml?group=None&x=(a==\'b\')', {}),
                ('PUT', '/xml', {'data': 'abc', 'headers': {
                    'X-A': '1', 'content-length': '99', 'X-B': '2'}}),
                ('PUT', '/xml', {'data': '', 'headers': {
                    'content-length': None, 'X-B': '2'}}),
                ('PUT', '/xml', {'data': '', 'headers': {
                    'Content-Length': '0', 'X-B': '2'}})):
            seen, err, sent = self._both(srv, method, path, **kwargs)
            self.assertIsNone(err)
            self.assertTrue(sent)
        # Refused before anything is sent, the same way.
        for headers in ({'X-Bad': 'a\r\nb'}, {'X-Int': 5}, {' X': 'a'},
                        {'X-Bad': 'a\r\nb'}):
            seen, err, sent = self._both(srv, 'GET', '/xml', headers=headers)
            self.assertIs(requests.exceptions.InvalidHeader, err)
            self.assertEqual([], sent)
        # XML without a charset is read as UTF-8 (requests would guess).
        resp, _err = self._call('lean', self._session(), 'GET',
                                'http://127.0.0.1:%d/xml' %
                                srv.server_address[1])
        self.assertEqual('<a>caf\u00e9</a>', resp.text)

    def test_redirect_followed_as_requests_follows(self):
        srv = self._server()
        seen, _err, sent = self._both(srv, 'GET', '/moved')
        self.assertEqual(302, len(sent) and 302)
        self.assertEqual(2, len(sent))
        self.assertTrue(seen[6].endswith('/xml'))
        self.assertEqual(1, len(seen[7]))

    def test_same_errors(self):
        srv = self._server()
        for path, kwargs, error in (
                ('/short', {}, requests.exceptions.ChunkedEncodingError),
                ('/badchunk', {}, requests.exceptions.ChunkedEncodingError),
                ('/slow', {'timeout': 0.2}, requests.exceptions.ReadTimeout)):
            _seen, err, _sent = self._both(srv, 'GET', path, **kwargs)
            self.assertIs(error, err)
        closed = socket.socket()
        closed.bind(('127.0.0.1', 0))
        port = closed.getsockname()[1]
        closed.close()
        _seen, err, _sent = self._both('http://127.0.0.1:%d' % port, 'GET',
                                       '/xml')
        self.assertIs(requests.exceptions.ConnectionError, err)

    def test_urllib3_errors_raised_as_requests_raises_them(self):
        reason = u3_exc.ConnectTimeoutError(None, 'slow')
        pool = mock.Mock()
        for error in (u3_exc.ProtocolError('reset'), OSError('down'),
                      u3_exc.MaxRetryError(pool, '/', reason),
                      u3_exc.MaxRetryError(
                          pool, '/', u3_exc.NewConnectionError(None, 'no')),
                      u3_exc.MaxRetryError(pool, '/', u3_exc.ResponseError()),
                      u3_exc.MaxRetryError(pool, '/', u3_exc.ProxyError(
                          'p', OSError())),
                      u3_exc.MaxRetryError(pool, '/', u3_exc.SSLError()),
                      u3_exc.MaxRetryError(pool, '/', u3_exc.HTTPError()),
                      u3_exc.ClosedPoolError(pool, 'closed'),
                      u3_exc.ProxyError('p', OSError()), u3_exc.SSLError(),
                      u3_exc.ReadTimeoutError(pool, '/', 'slow'),
                      u3_exc.InvalidHeader(), u3_exc.DecodeError(),
                      ValueError('other')):
            with mock.patch.object(u3_pool.HTTPConnectionPool, 'urlopen',
                                   side_effect=error):
                _seen, err, _sent = self._both('http://127.0.0.1:1', 'GET',
                                               '/x')
            self.assertIsNotNone(err)

    def test_stale_connection_replaced(self):
        # The server closes a kept-alive connection: the next request
        # opens another, as requests' path does.
        srv = self._server()
        for how in ('requests', 'lean'):
            sess = self._session()
            url = 'http://127.0.0.1:%d' % srv.server_address[1]
            before = srv.connections
            self.assertEqual(200, self._call(how, sess, 'GET',
                                             url + '/bye')[0].status_code)
            time.sleep(0.1)
            self.assertEqual(200, self._call(how, sess, 'GET',
                                             url + '/xml')[0].status_code)
            self.assertEqual(2, srv.connections - before)

    def test_keep_alive(self):
        srv = self._server()
        sess = self._session()
        url = 'http://127.0.0.1:%d' % srv.server_address[1]
        for path in ('/xml', '/none', '/etag', '/chunks', '/gzip', '/same'):
            self._call('lean', sess, 'GET', url + path)
        self.assertEqual(1, srv.connections)
        self.assertEqual(6, len(self.lean))

    def test_through_an_http_proxy(self):
        proxy = self._server(script=lambda path: _ok())
        self.useFixture(fixtures.EnvironmentVariable(
            'HTTP_PROXY', 'http://127.0.0.1:%d' % proxy.server_address[1]))
        seen, err, _sent = self._both(
            'http://pvm.example.com:12080', 'GET', '/rest/api/uom/x',
            headers={'X-API-Session': 't'})
        self.assertIsNone(err)
        self.assertEqual(2, len(proxy.seen))
        self.assertTrue(proxy.seen[1].startswith(
            b'GET http://pvm.example.com:12080/rest/api/uom/x HTTP/1.1\r\n'))
        self.assertEqual(proxy.seen[0], proxy.seen[1])

    def test_urls_requests_would_change_go_its_way(self):
        for url in ('http://127.0.0.1:1/a b', 'http://127.0.0.1:1/a/../b',
                    'http://127.0.0.1:1/a#f', 'http://u:p@127.0.0.1:1/a',
                    'http://127.0.0.1:1/%41', 'http://Host:1/a',
                    'HTTP://127.0.0.1:1/a', 'http://127.0.0.1:1//a',
                    'http://127.0.0.1:1/caf\u00e9', 'http://127.0.0.1:1',
                    'http://127.0.0.1:1/a"b', 'http://127.0.0.1:1/a[1]'):
            self.assertIsNone(http_reuse._LEAN_URL.match(url) and
                              '/.' not in url or None, url)
        for url in ('http://127.0.0.1:1/rest/api/uom/LogicalPartition/'
                    'search/(PartitionName==\'a.b-c_1\')?group=None',
                    'https://pvm.example.com:12443/x;y=1?a=1&b=%s' % '~',
                    'http://[::1]:12080/rest/api/web/Logon'):
            self.assertTrue(http_reuse._LEAN_URL.match(url), url)
            prep = requests.Request('GET', url).prepare()
            self.assertEqual(url, prep.url)
            self.assertEqual(prep.path_url, http_reuse._path_url(url))

    def test_other_requests_go_requests_way(self):
        srv = self._server()
        url = 'http://127.0.0.1:%d/xml' % srv.server_address[1]
        sess = self._session()
        sess.request('GET', url, stream=True).close()
        sess.request('GET', url, data=io.BytesIO(b'a'))
        sess.request('GET', url, params={'a': 1})
        self.assertEqual(0, len(self.lean))


class TestLeanPathTLS(_LeanBase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.cert, self.key = http_fixtures.self_signed(tmp)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(self.cert, self.key)
        self.srv = self._server(tls=self.tls)
        self.url = 'https://127.0.0.1:%d' % self.srv.server_address[1]

    def test_verified_by_default(self):
        # An unknown CA: refused both ways; nothing sent.
        _seen, err, sent = self._both(self.url, 'GET', '/xml')
        self.assertIs(requests.exceptions.SSLError, err)
        self.assertEqual([], self.srv.seen)

    def test_environment_ca_bundle(self):
        self.useFixture(fixtures.EnvironmentVariable('REQUESTS_CA_BUNDLE',
                                                     self.cert))
        seen, err, _sent = self._both(self.url, 'GET', '/xml')
        self.assertIsNone(err)
        self.assertEqual(200, seen[0])
        # Kept alive: one TLS connection for several requests.
        sess = self._session()
        before = self.srv.connections
        for path in ('/xml', '/etag', '/chunks'):
            self._call('lean', sess, 'GET', self.url + path)
        self.assertEqual(1, self.srv.connections - before)

    def test_session_verify_settings(self):
        for verify, error in ((self.cert, None), (False, None),
                              (True, requests.exceptions.SSLError),
                              ('/nonexistent/ca.pem', OSError)):
            _seen, err, _sent = self._both(self.url, 'GET', '/xml',
                                           settings={'verify': verify})
            self.assertIs(error, err, verify)

    def test_client_certificate(self):
        self.tls.verify_mode = ssl.CERT_REQUIRED
        self.tls.load_verify_locations(self.cert)
        seen, err, _sent = self._both(self.url, 'GET', '/xml', settings={
            'verify': self.cert, 'cert': (self.cert, self.key)})
        self.assertIsNone(err)
        _seen, err, _sent = self._both(self.url, 'GET', '/xml',
                                       settings={'verify': self.cert})
        self.assertIsNotNone(err)
