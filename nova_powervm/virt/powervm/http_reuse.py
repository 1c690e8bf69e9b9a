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
authenticates with its session token).  A pypowervm request (method, URL,
body, headers, timeout, maybe ``stream``) is prepared without requests'
generic merging of session and request settings (nothing to merge: no
auth, params or cookies); the same request is sent.
"""
import os
import threading
import time
from urllib import parse as urlparse

from pypowervm import adapter as pvm_adpt
import requests
from requests import cookies
from requests import structures
from requests import utils as rq_utils

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

    def request(self, method, url, data=None, headers=None, timeout=None,
                stream=None, **kwargs):
        """``requests.Session.request`` with less merging for pypowervm.

        pypowervm passes a method, URL, body, headers, timeout and maybe
        ``stream``; nothing of the session's (no auth, params or cookies)
        is there to merge, so the request is prepared from those alone.
        Anything else goes the general way.
        """
        if kwargs or self.auth or self.params or len(self.cookies) or \
                '@' in url:
            return super().request(method, url, data=data, headers=headers,
                                   timeout=timeout, stream=stream, **kwargs)
        merged = structures.CaseInsensitiveDict(self.headers)
        if headers:
            merged.update(headers)
        prep = requests.PreparedRequest()
        prep.prepare_method(method)
        prep.prepare_url(url, None)
        prep.prepare_headers({k: v for k, v in merged.items()
                              if v is not None})
        prep.prepare_cookies(cookies.RequestsCookieJar())
        prep.prepare_body(data, None)
        prep.prepare_hooks(self.hooks)
        settings = self.merge_environment_settings(
            prep.url, None, stream, None, None)
        return self.send(prep, timeout=timeout, allow_redirects=True,
                         **settings)

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
