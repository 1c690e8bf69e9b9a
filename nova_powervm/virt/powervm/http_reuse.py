"""HTTP connection reuse for pypowervm's REST requests.

pypowervm 1.1.27's ``Session.request`` builds a new ``requests.Session``
for every request and closes it afterwards: each request pays the
session's set-up, a new TCP (and TLS) connection and a scan of the process
environment for proxy settings and ``~/.netrc`` -- about a third of the
driver's CPU per spawn.  pypowervm offers no way to pass a session in (its
adapter helpers wrap the call, not the HTTP client), so this module is the
one place that reaches into a pypowervm internal: :func:`install` gives the
``pypowervm.adapter`` module, instead of the ``requests`` module, a
stand-in whose ``Session()`` hands out a pooled session and whose
``close()`` (which pypowervm calls after every request) puts it back.  What
pypowervm sets on a session (``verify``) it sets on every request; cookies
are dropped when a session comes back, as with a new one.  An XML answer
whose Content-Type names no charset is read as UTF-8 (XML's default)
instead of having requests guess its encoding from the bytes.

Each pooled session is used by one request at a time; at most
``MAX_IDLE`` wait in the pool, for at most ``IDLE_S`` seconds (a server
may close an idle connection: it is not reused after that).  The proxy
settings and the CA bundle (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, for
requests verifying certificates) come from the environment as with a new
session, read once per server; ``~/.netrc`` is not read (pypowervm
authenticates with its session token).

A pypowervm request (method, URL, string body, headers, timeout) goes
straight to the urllib3 connection pool requests' adapter would use
(``PooledSession._lean_send``): the same bytes on the wire (requests'
default headers merged with pypowervm's, Content-Length, the body in
UTF-8), the same pool (proxies, TLS verification with the CA bundle, client
certificate), timeout, retries and exceptions, and a ``requests.Response``
with the same status, reason, headers, encoding, content, url and a
prepared ``request``.  What requests' path does and this one does not: the
response's own cookie jar stays empty and cookies are not stored in the
session between request and close (pypowervm sends its token as a header;
a redirect, which NovaLink does not answer, is handed to requests' code
with the cookies); the response hooks are not dispatched (the one hook,
UTF-8 for XML, is applied); the body is read in one go.  Anything else
(streamed downloads, file or iterator bodies, extra arguments, session
auth, params or cookies, URLs requests would rewrite, a stand-in for
requests' adapter or ``send`` such as requests-mock) goes requests' way.
Responses' headers are read by :mod:`http_conn` (without ``email``).
"""
import datetime
import os
import re
import threading
import time
from urllib import parse as urlparse

from pypowervm import adapter as pvm_adpt
import requests
from requests import cookies
from requests import exceptions as rq_exc
from requests import structures
from requests import utils as rq_utils
from urllib3 import exceptions as u3_exc
from urllib3 import util as u3_util

from nova_powervm.virt.powervm import http_conn

MAX_IDLE = 16
IDLE_S = 10.0

_lock = threading.Lock()
_idle = []            # [(returned at, session)], most recent last
_environment = {}     # (scheme, netloc) -> (proxies, CA bundle or None)


class PooledSession(requests.Session):
    """A requests Session whose ``close()`` returns it to the pool."""

    def __init__(self):
        super().__init__()
        self.trust_env = False   # read once per server: _env()
        self.hooks['response'].append(_xml_default_utf8)
        self.mount('https://', http_conn.HTTPAdapter())
        self.mount('http://', http_conn.HTTPAdapter())
        self._pools = {}   # (origin, verify, cert, proxies) -> pool, URL
        # Its default headers (requests' own: nothing here changes them).
        self._default_headers = {name.lower(): (name, value)
                                 for name, value in self.headers.items()}

    def request(self, method, url, data=None, headers=None, timeout=None,
                stream=None, **kwargs):
        """``requests.Session.request`` sent straight to urllib3's pool.

        pypowervm passes a method, URL, body (a string), headers, timeout
        and, for downloads, ``stream``.  Such a request goes to the urllib3
        connection pool requests' adapter would pick (:meth:`_lean_send`);
        anything else (a streamed or file body, extra arguments, session
        auth, params or cookies, a URL requests would rewrite) goes the
        general way.
        """
        adapter = self.get_adapter(url)
        if kwargs or stream or self.stream or self.auth or self.params or \
                len(self.cookies) or \
                getattr(self.send, '__func__', None) is not _REQUESTS_SEND or \
                not isinstance(adapter, http_conn.HTTPAdapter) or \
                not isinstance(data, (str, bytes, type(None))) or \
                not _LEAN_URL.match(url) or '/.' in url:
            return super().request(method, url, data=data, headers=headers,
                                   timeout=timeout, stream=stream, **kwargs)
        return self._lean_send(adapter, method.upper(), url, data or None,
                               headers or {}, timeout)

    def _lean_send(self, adapter, method, url, body, headers, timeout):
        """Send through urllib3 what requests would, as requests would.

        The headers, body and request line on the wire are requests' (its
        default headers, merged; Content-Length; the body UTF-8), and so
        are the pool (proxies, TLS verification and client certificate
        as ``merge_environment_settings`` says), the timeout, the
        exceptions and the Response: status, reason, headers, encoding,
        url, content and a prepared ``request``.  Left out: the response's
        cookie jar (pypowervm authenticates with its token header) and the
        hook dispatch (:func:`_xml_default_utf8` is applied).  A redirect
        is followed by requests' own code.
        """
        # requests' merge: by lower-case name, the request's name and value
        # in the session's place; None drops a header.  Then Content-Length.
        merged = self._default_headers.copy()
        for name, value in headers.items():
            merged[name.lower()] = (name, value)
        wire = {}
        for item in merged.values():
            if item[1] is not None:
                if not (type(item[1]) is str and item in _valid_headers):
                    rq_utils.check_header_validity(item)
                    if len(_valid_headers) > 1000:
                        _valid_headers.clear()
                    _valid_headers[item] = True
                wire[item[0]] = item[1]
        data = body
        has_length = merged.get('content-length', (0, None))[1] is not None
        if body is not None:
            if isinstance(body, str):
                body = body.encode('utf-8')
            if has_length:   # replaced where it stands, as requests does
                wire = {('Content-Length' if k.lower() == 'content-length'
                         else k): v for k, v in wire.items()}
            wire['Content-Length'] = str(len(body))
        elif method not in ('GET', 'HEAD') and not has_length:
            wire['Content-Length'] = '0'
        settings = self.merge_environment_settings(url, None, False, None,
                                                   None)
        prep = requests.PreparedRequest()
        prep.method, prep.url, prep.body = method, url, data
        prep.headers = structures.CaseInsensitiveDict(wire)
        pool, target = self._pool(adapter, prep, settings)
        start = time.perf_counter()
        try:
            raw = pool.urlopen(
                method=method, url=target(url), body=body, headers=wire,
                redirect=False, assert_same_host=False,
                preload_content=False, decode_content=False,
                retries=adapter.max_retries,
                timeout=_timeout(timeout), chunked=False)
        except Exception as e:
            _raise_as_requests(e, prep)
        resp = requests.Response()
        resp.status_code = raw.status
        resp.headers = structures.CaseInsensitiveDict(raw.headers)
        resp.encoding = rq_utils.get_encoding_from_headers(resp.headers)
        resp.raw, resp.reason, resp.url = raw, raw.reason, url
        resp.request, resp.connection = prep, adapter
        resp.elapsed = datetime.timedelta(
            seconds=time.perf_counter() - start)
        _xml_default_utf8(resp)
        if resp.is_redirect:
            return self._follow(resp, prep, timeout, settings)
        _read_content(resp)
        return resp

    def _pool(self, adapter, prep, settings):
        """(urllib3 pool, request target from URL) as requests' adapter.

        The pool of the adapter's pool manager (or proxy manager) for
        this origin, verification and client certificate, asked for once;
        the adapter's certificate check runs on every request.
        """
        verify, cert, proxies = (settings['verify'], settings['cert'],
                                 settings['proxies'])
        key = (_origin(prep.url), verify, cert, tuple(sorted(
            proxies.items())))
        found = self._pools.get(key)
        if found is None or found[0].pool is None:
            pool = adapter.get_connection_with_tls_context(
                prep, verify, proxies=proxies, cert=cert)
            # request_url: the whole URL through an HTTP (not SOCKS)
            # proxy for an http URL (a lean URL has no auth, no fragment).
            proxy = rq_utils.select_proxy(prep.url, proxies)
            whole = bool(proxy) and not prep.url.startswith('https:') and \
                not urlparse.urlsplit(proxy).scheme.lower().startswith(
                    'socks')
            found = self._pools[key] = (
                pool, _whole_url if whole else _path_url)
        adapter.cert_verify(found[0], prep.url, verify, cert)
        return found

    def _follow(self, resp, prep, timeout, settings):
        """What ``Session.send`` does with a redirect (none from NovaLink).

        The cookies kept; the redirects followed by requests' own code.
        """
        prep.prepare_cookies(cookies.RequestsCookieJar())
        prep.prepare_hooks(self.hooks)
        cookies.extract_cookies_to_jar(self.cookies, prep, resp.raw)
        history = list(self.resolve_redirects(resp, prep, timeout=timeout,
                                              **settings))
        if history:
            history.insert(0, resp)
            resp = history.pop()
            resp.history = history
        resp.content
        return resp

    def merge_environment_settings(self, url, proxies, stream, verify,
                                   cert):
        env_proxies, ca_bundle = _env(url)
        proxies = dict(env_proxies, **(proxies or {}))
        if ca_bundle and (verify is True or
                          (verify is None and self.verify is True)):
            verify = ca_bundle
        if self.proxies:
            return super().merge_environment_settings(url, proxies, stream,
                                                      verify, cert)
        # requests' merge (trust_env off) with no session proxies: a
        # request's setting, else the session's.
        return {'proxies': {k: v for k, v in proxies.items()
                            if v is not None},
                'stream': self.stream if stream is None else stream,
                'verify': self.verify if verify is None else verify,
                'cert': self.cert if cert is None else cert}

    def close(self):
        self.cookies.clear()
        _give_back(self)

    def discard(self):
        """Close its connections for good."""
        requests.Session.close(self)


# A URL requests would send as it is: no user info, fragment, percent
# escapes or characters requote_uri/parse_url would change ('/.' checked
# apart: dot segments are removed).
_LEAN_URL = re.compile(r"https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]+)?"
                       r"/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@/?-]*\Z")
_timeouts = {}
_valid_headers = {}   # (name, value) that passed requests' check
# requests' own Session.send: while something else stands in for it (a
# test's requests-mock), requests go that way.
_REQUESTS_SEND = requests.Session.send
if _REQUESTS_SEND.__module__ != 'requests.sessions':
    _REQUESTS_SEND = None


def _origin(url):
    return url[:url.index('/', url.index('//') + 2)]


def _path_url(url):
    return url[url.index('/', url.index('//') + 2):]


def _whole_url(url):
    return url


def _timeout(timeout):
    """requests' urllib3 Timeout for a timeout (one per value)."""
    found = _timeouts.get(timeout)
    if found is None:
        if isinstance(timeout, tuple):
            connect, read = timeout
        else:
            connect = read = timeout
        found = _timeouts[timeout] = u3_util.Timeout(connect=connect,
                                                     read=read)
    return found


def _raise_as_requests(err, prep):
    """Raise what ``HTTPAdapter.send`` raises for a urllib3 error."""
    if isinstance(err, (u3_exc.ProtocolError, OSError)):
        raise rq_exc.ConnectionError(err, request=prep)
    if isinstance(err, u3_exc.MaxRetryError):
        reason = err.reason
        if isinstance(reason, u3_exc.ConnectTimeoutError) and \
                not isinstance(reason, u3_exc.NewConnectionError):
            raise rq_exc.ConnectTimeout(err, request=prep)
        if isinstance(reason, u3_exc.ResponseError):
            raise rq_exc.RetryError(err, request=prep)
        if isinstance(reason, u3_exc.ProxyError):
            raise rq_exc.ProxyError(err, request=prep)
        if isinstance(reason, u3_exc.SSLError):
            raise rq_exc.SSLError(err, request=prep)
        raise rq_exc.ConnectionError(err, request=prep)
    if isinstance(err, u3_exc.ClosedPoolError):
        raise rq_exc.ConnectionError(err, request=prep)
    if isinstance(err, u3_exc.ProxyError):
        raise rq_exc.ProxyError(err)
    if isinstance(err, u3_exc.SSLError):
        raise rq_exc.SSLError(err, request=prep)
    if isinstance(err, u3_exc.ReadTimeoutError):
        raise rq_exc.ReadTimeout(err, request=prep)
    if isinstance(err, u3_exc.InvalidHeader):
        raise rq_exc.InvalidHeader(err, request=prep)
    raise err


def _read_content(resp):
    """``resp.content`` read in one go (requests reads 10 KiB at a time).

    With the errors requests' ``iter_content`` raises.
    """
    try:
        content = resp.raw.read(decode_content=True)
    except u3_exc.ProtocolError as e:
        raise rq_exc.ChunkedEncodingError(e)
    except u3_exc.DecodeError as e:
        raise rq_exc.ContentDecodingError(e)
    except u3_exc.ReadTimeoutError as e:
        raise rq_exc.ConnectionError(e)
    except u3_exc.SSLError as e:
        raise rq_exc.SSLError(e)
    resp._content = content or b''
    resp._content_consumed = True


def _xml_default_utf8(resp, *args, **kwargs):
    if resp.encoding is None and 'xml' in resp.headers.get(
            'Content-Type', ''):
        resp.encoding = 'utf-8'
    return resp


def _env(url):
    parts = urlparse.urlsplit(url)
    key = (parts.scheme, parts.netloc)
    found = _environment.get(key)
    if found is None:
        # What requests does per request when trust_env is set.
        proxies = rq_utils.get_environ_proxies(url)
        ca_bundle = os.environ.get('REQUESTS_CA_BUNDLE') or \
            os.environ.get('CURL_CA_BUNDLE')
        found = _environment[key] = (proxies, ca_bundle)
    return found


def _take():
    """An idle pooled session (expired ones are closed) or a new one."""
    now = time.monotonic()
    stale, sess = [], None
    with _lock:
        while _idle and sess is None:
            returned, cand = _idle.pop()
            if now - returned <= IDLE_S:
                sess = cand
            else:
                stale.append(cand)
        # Older ones below the most recent one are staler still.
        while _idle and now - _idle[0][0] > IDLE_S:
            stale.append(_idle.pop(0)[1])
    for old in stale:
        old.discard()
    return sess if sess is not None else PooledSession()


def _give_back(sess):
    with _lock:
        if len(_idle) < MAX_IDLE:
            _idle.append((time.monotonic(), sess))
            return
    sess.discard()


def close_idle():
    """Close every idle pooled session (their connections with them)."""
    with _lock:
        idle = [s for _t, s in _idle]
        del _idle[:]
    for sess in idle:
        sess.discard()


class _Requests(object):
    """The ``requests`` module as pypowervm's adapter sees it."""

    Session = staticmethod(_take)

    def __getattr__(self, name):
        return getattr(requests, name)


def install():
    """Make pypowervm's adapter use pooled sessions (idempotent)."""
    if not isinstance(pvm_adpt.requests, _Requests):
        pvm_adpt.requests = _Requests()


def installed():
    return isinstance(pvm_adpt.requests, _Requests)
