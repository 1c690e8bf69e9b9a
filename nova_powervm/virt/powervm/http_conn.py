"""HTTP connections with leaner header handling, same bytes and rules.

http.client reads a response's header block with the ``email`` package's
feed parser: about a tenth of a REST request's CPU here.  A block of
plain ``Name: value`` lines (printable ASCII, no folded lines, not a
multipart or message content type) is read straight into the same
``http.client.HTTPMessage`` (names and values as the feed parser stores
them); any other block goes to the feed parser, as before.  Everything
else about the response (status line, 100 Continue, chunked or
Content-Length bodies, keep-alive) follows http.client's rules.

Request header lines are made once per (name, value) (see
``_HeaderLineMemo``).  :class:`HTTPAdapter` is requests' adapter whose
pool manager's pools use these connections; proxy managers keep urllib3's
own.  It also takes a :class:`Pin` as ``verify``: the server must present
exactly that certificate.
"""
import email.parser
import hashlib
import http.client
import re

from requests import adapters
from urllib3 import connection
from urllib3 import connectionpool

_PLAIN = re.compile(rb'([!-9;-~]+):[ \t]*([\t -~]*)\r?\n\Z')
_END = (b'\r\n', b'\n', b'')
MAX_HEADER_LINES = 1000


def read_header_lines(fp):
    """The lines up to and including the empty one (or end of stream).

    With http.client's limits on a line and on their number (read each
    time: swiftclient, for one, raises the latter for the process).
    """
    max_line = getattr(http.client, '_MAXLINE', 65536)
    max_headers = getattr(http.client, '_MAXHEADERS', 100)
    lines = []
    while True:
        line = fp.readline(max_line + 1)
        if len(line) > max_line:
            raise http.client.LineTooLong('header line')
        lines.append(line)
        if len(lines) > max_headers:
            raise http.client.HTTPException(
                'got more than %d headers' % max_headers)
        if line in _END:
            return lines


def parse_header_lines(lines):
    """An HTTPMessage of header lines (ending with the empty line)."""
    msg = http.client.HTTPMessage()
    for line in lines[:-1]:
        match = _PLAIN.match(line)
        if match is None:
            return _feed_parse(lines)
        msg.set_raw(match.group(1).decode('ascii'),
                    match.group(2).decode('ascii'))
    for value in msg.get_all('content-type', ()):
        value = value.lower()
        if 'multipart' in value or 'message' in value:
            return _feed_parse(lines)
    msg.set_payload('')
    return msg


def _feed_parse(lines):
    """What http.client.parse_headers makes of the lines."""
    text = b''.join(lines).decode('iso-8859-1')
    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)


class HTTPResponse(http.client.HTTPResponse):
    """http.client's response, its headers read by parse_header_lines."""

    def begin(self):
        if self.headers is not None:
            return   # begun already
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_header_lines(self.fp)   # an interim answer's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ('HTTP/1.0', 'HTTP/0.9'):
            self.version = 10
        elif version.startswith('HTTP/1.'):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = parse_header_lines(
            read_header_lines(self.fp))
        encoding = self.headers.get('transfer-encoding')
        self.chunked = bool(encoding) and encoding.lower() == 'chunked'
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get('content-length')
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                pass
            if self.length is not None and self.length < 0:
                self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or \
                100 <= status < 200 or self._method == 'HEAD':
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True   # the body ends when the server closes


_header_lines = {}   # (name, values) -> the line http.client made


class _HeaderLineMemo(object):
    """Header lines as http.client makes them, each (name, values) once.

    http.client checks and encodes every header of every request; the
    driver sends the same few (its token, Accept, the defaults) again and
    again.  A line http.client made is kept (at most ``MAX_HEADER_LINES``)
    and appended as it is the next time, after http.client's check that
    a request was started; only str names and values are kept.
    """

    def putheader(self, header, *values):
        key = (header, values)
        line = _header_lines.get(key)
        # (http.client's own check of the connection's state, kept.)
        if line is None or getattr(self, '_HTTPConnection__state',
                                   None) != 'Request-started':
            before = len(self._buffer)
            super().putheader(header, *values)
            if len(self._buffer) == before + 1 and type(header) is str and \
                    all(type(v) is str for v in values):
                if len(_header_lines) >= MAX_HEADER_LINES:
                    _header_lines.clear()
                _header_lines[key] = self._buffer[-1]
        else:
            self._buffer.append(line)


class HTTPConnection(_HeaderLineMemo, connection.HTTPConnection):
    response_class = HTTPResponse


class HTTPSConnection(_HeaderLineMemo, connection.HTTPSConnection):
    response_class = HTTPResponse


class HTTPConnectionPool(connectionpool.HTTPConnectionPool):
    ConnectionCls = HTTPConnection


class HTTPSConnectionPool(connectionpool.HTTPSConnectionPool):
    ConnectionCls = HTTPSConnection


POOL_CLASSES = {'http': HTTPConnectionPool, 'https': HTTPSConnectionPool}


class Pin(object):
    """``verify`` for a server that must present exactly one certificate.

    Checked on every new TLS connection by its SHA-256 fingerprint
    (urllib3's ``assert_fingerprint``), as pypowervm checks a pinned
    certificate at logon: by content, without CA or host name checks.
    """

    def __init__(self, der):
        self.fingerprint = hashlib.sha256(der).hexdigest()

    def __eq__(self, other):
        return isinstance(other, Pin) and \
            other.fingerprint == self.fingerprint

    def __hash__(self):
        return hash(self.fingerprint)

    def __repr__(self):
        return 'Pin(sha256=%s)' % self.fingerprint


class HTTPAdapter(adapters.HTTPAdapter):
    """requests' adapter; its direct (not proxied) pools use the above."""

    def build_connection_pool_key_attributes(self, request, verify,
                                             cert=None):
        if not isinstance(verify, Pin):
            return super().build_connection_pool_key_attributes(
                request, verify, cert)
        host_params, pool_kwargs = \
            super().build_connection_pool_key_attributes(request, False, cert)
        pool_kwargs['assert_fingerprint'] = verify.fingerprint
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        if isinstance(verify, Pin):   # no CA: the fingerprint is the check
            super().cert_verify(conn, url, False, cert)
            conn.assert_fingerprint = verify.fingerprint
        else:
            super().cert_verify(conn, url, verify, cert)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)
