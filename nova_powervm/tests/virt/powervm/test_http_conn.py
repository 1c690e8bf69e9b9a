"""Responses read as http.client reads them (http_conn)."""
import http.client
import io
from unittest import mock

import fixtures
from nova import test
import requests
from urllib3 import connection

from nova_powervm.virt.powervm import http_conn

_PLAIN_HEAD = (b'HTTP/1.1 200 OK\r\nServer: PowerVM\r\n'
               b'Content-Type: application/atom+xml\r\n'
               b'X-Transaction-ID: XT1\r\nContent-Length: 4\r\n\r\n')

# (raw response, method, read by the fast path)
_CASES = (
    (_PLAIN_HEAD + b'<a/>', 'GET', True),
    (b'HTTP/1.1 200 OK\nContent-Length: 2\nETag:  "1"  \n\nok', 'GET', True),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
     b'3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n', 'GET', True),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 9'
     b'\r\n\r\n1\r\nx\r\n0\r\n\r\n', 'GET', True),
    (b'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', 'PUT', True),
    (b'HTTP/1.1 304 Not Modified\r\nETag: 7\r\n\r\n', 'GET', True),
    (b'HTTP/1.1 412 Precondition Failed\r\nContent-Length: 3\r\n\r\nbad',
     'POST', True),
    (b'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html; '
     b'charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops',
     'GET', True),
    (b'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody', 'HEAD', True),
    (b'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx', 'GET', True),
    (b'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n'
     b'\r\nx', 'GET', True),
    (b'HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n'
     b'\r\nx', 'GET', True),
    (b'HTTP/1.1 200 OK\r\n\r\nto the end', 'GET', True),
    (b'HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nabc', 'GET', True),
    (b'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc', 'GET', True),
    (b'HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\n' + _PLAIN_HEAD + b'<b/>',
     'PUT', True),
    (b'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-E:\r\n'
     b'X-T:\t tab \r\nContent-Length: 0\r\n\r\n', 'GET', True),
    # Not plain: the feed parser reads them.
    (b'HTTP/1.1 200 OK\r\nX-Long: one\r\n two\r\nContent-Length: 0\r\n\r\n',
     'GET', False),
    (b'HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n',
     'GET', False),
    (b'HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n',
     'GET', False),
    (b'HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=x\r\n'
     b'Content-Length: 0\r\n\r\n', 'GET', False),
    (b'HTTP/1.1 200 OK\r\nContent-Type: Message/Partial\r\n'
     b'Content-Length: 0\r\n\r\n', 'GET', False),
    (b'HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n', 'GET',
     False),
    (b'HTTP/1.1 200 OK\r\n: empty name\r\nContent-Length: 0\r\n\r\n', 'GET',
     False),
    (b'HTTP/1.1 200 OK\r\nX-CR: a\rb\r\nContent-Length: 0\r\n\r\n', 'GET',
     False),
    (b'HTTP/1.1 200 OK\r\nFrom nobody\r\nContent-Length: 0\r\n\r\n', 'GET',
     False),
    (b'HTTP/1.1 200 OK\r\nX-Cut: 1\r\n', 'GET', True),
)


class _Sock(object):
    def __init__(self, data):
        self.data = data

    def makefile(self, mode):
        return io.BufferedReader(io.BytesIO(self.data))


def _begun(cls, raw, method):
    resp = cls(_Sock(raw), method=method)
    try:
        resp.begin()
    except Exception as e:
        return None, (type(e), str(e))
    return resp, None


def _payload(msg):
    payload = msg.get_payload()
    if isinstance(payload, list):
        return [part.items() for part in payload]
    return payload


def _seen(resp):
    msg = resp.msg
    return {'status': resp.status, 'code': resp.code, 'reason': resp.reason,
            'version': resp.version, 'chunked': resp.chunked,
            'chunk_left': resp.chunk_left, 'length': resp.length,
            'will_close': resp.will_close, 'headers': msg.items(),
            'type': type(msg), 'defects': [type(d) for d in msg.defects],
            'multipart': msg.is_multipart(), 'payload': _payload(msg),
            'content_type': msg.get_content_type(),
            'cookies': msg.get_all('set-cookie'), 'body': resp.read()}


class TestResponse(test.NoDBTestCase):

    def test_read_as_http_client_reads(self):
        for raw, method, fast in _CASES:
            want, want_err = _begun(http.client.HTTPResponse, raw, method)
            with mock.patch.object(http_conn, '_feed_parse',
                                   wraps=http_conn._feed_parse) as feed:
                got, got_err = _begun(http_conn.HTTPResponse, raw, method)
            self.assertEqual(want_err, got_err, raw)
            self.assertEqual(_seen(want), _seen(got), raw)
            # The fast path is what reads plain headers (100's aside).
            self.assertEqual(not fast, feed.called, raw)

    def test_errors_as_http_client_raises(self):
        # The limit http.client applies (swiftclient, imported with nova's
        # tests, raises it), and a lower one.
        self.useFixture(fixtures.MockPatchObject(http.client, '_MAXHEADERS',
                                                 getattr(http.client,
                                                         '_MAXHEADERS')))
        many = b''.join(b'X-%d: 1\r\n' % i
                        for i in range(http.client._MAXHEADERS + 1))
        for raw in (b'HTTP/2.0 200 OK\r\n\r\n',
                    b'garbage\r\n\r\n', b'',
                    b'HTTP/1.1 200 OK\r\n' + many + b'\r\n',
                    b'HTTP/1.1 200 OK\r\nX: ' + b'a' * 70000 + b'\r\n\r\n',
                    b'HTTP/1.1 100 Continue\r\n' + many + b'\r\n'):
            want = _begun(http.client.HTTPResponse, raw, 'GET')[1]
            got = _begun(http_conn.HTTPResponse, raw, 'GET')[1]
            self.assertIsNotNone(want, raw[:40])
            self.assertEqual(want, got, raw[:40])
        http.client._MAXHEADERS = 3
        raw = b'HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n'
        self.assertEqual(_begun(http.client.HTTPResponse, raw, 'GET')[1],
                         _begun(http_conn.HTTPResponse, raw, 'GET')[1])
        self.assertIsNotNone(_begun(http_conn.HTTPResponse, raw, 'GET')[1])

    def test_begin_once(self):
        resp, _err = _begun(http_conn.HTTPResponse, _PLAIN_HEAD, 'GET')
        msg = resp.msg
        resp.begin()
        self.assertIs(msg, resp.msg)


class TestHeaderLines(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatchObject(http_conn, '_header_lines',
                                                 {}))

    @staticmethod
    def _lines(cls, headers):
        conn = cls('127.0.0.1', 1)
        conn.putrequest('GET', '/x')
        for name, value in headers:
            conn.putheader(name, value)
        return list(conn._buffer)

    def test_same_lines_as_http_client(self):
        headers = [('Accept', 'application/atom+xml'), ('X-API-Session', 't'),
                   ('Accept', 'application/atom+xml'), ('X-Int', 5),
                   ('X-Bytes', b'caf\xe9'), ('X-Latin', 'caf\u00e9'),
                   ('If-Match', '"1"')]
        want = self._lines(connection.HTTPConnection, headers)
        for _repeat in range(2):
            self.assertEqual(want, self._lines(http_conn.HTTPConnection,
                                               headers))
        # Not kept: the int and bytes values.
        self.assertEqual(6, len(http_conn._header_lines))

    def test_refused_as_http_client_refuses(self):
        self._lines(http_conn.HTTPConnection, [('X-A', '1')])
        for headers in ([('X-A', '1\r\nX-B: 2')], [('X:A', '1')],
                        [('X-A', None)]):
            self.assertRaises(
                type(self._error(connection.HTTPConnection, headers)),
                self._lines, http_conn.HTTPConnection, headers)
        # Known or not, a header before a request line is refused.
        for cls in (connection.HTTPConnection, http_conn.HTTPConnection):
            self.assertRaises(http.client.CannotSendHeader,
                              cls('127.0.0.1', 1).putheader, 'X-A', '1')

    @staticmethod
    def _error(cls, headers):
        try:
            TestHeaderLines._lines(cls, headers)
        except Exception as e:
            return e

    def test_bounded(self):
        self.useFixture(fixtures.MockPatchObject(http_conn,
                                                 'MAX_HEADER_LINES', 3))
        self._lines(http_conn.HTTPConnection,
                    [('X-%d' % i, '1') for i in range(5)])
        self.assertLessEqual(len(http_conn._header_lines), 3)
        self.assertIn(('X-4', ('1',)), http_conn._header_lines)


class TestAdapter(test.NoDBTestCase):

    def test_direct_pools_use_the_lean_connections(self):
        adapter = http_conn.HTTPAdapter()
        self.addCleanup(adapter.close)
        for url, pool_cls, conn_cls in (
                ('http://pvm.example.com:12080/x',
                 http_conn.HTTPConnectionPool, http_conn.HTTPConnection),
                ('https://pvm.example.com:12443/x',
                 http_conn.HTTPSConnectionPool, http_conn.HTTPSConnection)):
            prep = requests.Request('GET', url).prepare()
            pool = adapter.get_connection_with_tls_context(prep, True)
            self.assertIs(pool_cls, type(pool))
            self.assertIs(http_conn.HTTPResponse,
                          pool.ConnectionCls.response_class)
            self.assertTrue(issubclass(pool.ConnectionCls, conn_cls))
        # Through a proxy: urllib3's own connections.
        prep = requests.Request('GET', 'http://pvm.example.com:1/x').prepare()
        pool = adapter.get_connection_with_tls_context(
            prep, True, proxies={'http': 'http://proxy.example.com:3128'})
        self.assertIsNot(http_conn.HTTPResponse,
                         pool.ConnectionCls.response_class)
