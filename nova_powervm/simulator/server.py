"""Threaded HTTP front end: parses requests, applies faults, logs.

One thread per connection.  Every piece of XML work a request causes runs
under ``sim.lock`` (see xmlutil's docstring); only waiting (latency, fault
delays, event long-polls, job delays) and streaming bodies happen outside.
"""
import http.server
import logging
import socket
import socketserver
import urllib.parse

from nova_powervm.simulator import admin
from nova_powervm.simulator import errors
from nova_powervm.simulator import registry
from nova_powervm.simulator import rest
from nova_powervm.simulator import timing
from nova_powervm.simulator import wire
from nova_powervm.simulator import xmlutil as xu

LOG = logging.getLogger(__name__)
LOGON_PATH = '/rest/api/web/Logon'


class Request(object):
    """What handlers see of an HTTP request."""

    def __init__(self, handler):
        self._h = handler
        parsed = urllib.parse.urlsplit(handler.path)
        self.method = handler.command
        self.path = parsed.path.rstrip('/') or '/'
        self.raw_query = parsed.query
        self.query = urllib.parse.parse_qs(parsed.query,
                                           keep_blank_values=True)
        self.headers = handler.headers
        self.token = handler.headers.get('X-API-Session')
        self.job_failure = None
        self._body = None
        self.consumed = False

    def iter_body(self, chunk=65536):
        """Stream the request body (Content-Length or chunked)."""
        self.consumed = True
        rfile = self._h.rfile
        if 'chunked' in (self.headers.get('Transfer-Encoding') or ''):
            while True:
                line = rfile.readline(1024)
                size = int(line.split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                        pass
                    return
                left = size
                while left:
                    data = rfile.read(min(chunk, left))
                    if not data:
                        raise errors.BadRequest('Truncated chunked body')
                    left -= len(data)
                    yield data
                rfile.readline(1024)
        else:
            left = int(self.headers.get('Content-Length') or 0)
            while left > 0:
                data = rfile.read(min(chunk, left))
                if not data:
                    raise errors.BadRequest('Truncated request body')
                left -= len(data)
                yield data

    def body(self):
        if self._body is None:
            self._body = b''.join(self.iter_body())
        return self._body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True
    server_version = 'PowerVM-Simulator/1.0'

    def setup(self):
        xu.mark_simulator_thread()
        http.server.BaseHTTPRequestHandler.setup(self)

    def log_message(self, fmt, *args):
        LOG.debug('%s ' + fmt, self.client_address[0], *args)

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _send(self, resp, req):
        body = resp.body or b''
        self.send_response(resp.status)
        headers = dict(resp.headers)
        if self.server.sim.mc_type:
            headers.setdefault('X-MC-Type', self.server.sim.mc_type)
        headers.setdefault('X-Transaction-ID', 'XT%08d' % (id(req) % 10 ** 8))
        for k, v in headers.items():
            self.send_header(k, v)
        if resp.status not in (204, 304):
            self.send_header('Content-Length', str(len(body)))
        if not req.consumed and int(req.headers.get('Content-Length') or 0):
            self.close_connection = True
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command != 'HEAD' and resp.status not in (204, 304):
            self.wfile.write(body)

    def _dispatch(self):
        sim = self.server.sim
        start = timing.Clock()
        req = Request(self)
        if req.path.startswith('/sim/admin'):
            req.body()   # read before taking the lock
            with sim.lock:
                resp = self._safe(admin.handle, sim, req)
            self._send(resp, req)
            return
        target = req.path + ('?' + req.raw_query if req.raw_query else '')
        if sim.latency_ms:
            timing.modelled_sleep(sim.latency_ms / 1000.0)
        fault = sim.faults.match(req.method, target)
        resp = None
        if fault is not None and not fault.after_commit:
            if fault.delay_s:
                timing.modelled_sleep(fault.delay_s)
            if fault.drop:
                self._drop(sim, req, start)
                return
            if fault.job_failure:
                req.job_failure = fault.job_failure
            elif fault.status:
                with sim.lock:
                    resp = _error(fault.status, req.path,
                                  'Injected fault %d' % fault.id)
        if resp is None:
            resp = self._safe(self._route, sim, req)
        logged = False
        if fault is not None and fault.after_commit:
            # Served (the change is made); now its answer is lost.
            if fault.delay_s:
                # Logged as served: the log keeps the order of changes.
                self._log(sim, req, resp.status, start)
                logged = True
                timing.modelled_sleep(fault.delay_s)
            if fault.drop:
                self._drop(sim, req, start, log=not logged)
                return
            if fault.status:
                resp = _error(fault.status, req.path,
                              'Injected fault %d (after the change was '
                              'made)' % fault.id)
        # Log before answering: a client that got its answer can rely on
        # the request being in the log.
        if not logged:
            body = resp.body
            self._log(sim, req, resp.status, start, len(body) if isinstance(
                body, (bytes, bytearray)) else 0)
        try:
            self._send(resp, req)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self, sim, req, start, log=True):
        """Close the connection without an answer."""
        # Logged before the socket closes so tests see it at once.
        if log:
            self._log(sim, req, 0, start)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _log(sim, req, status, start, nbytes=0):
        duration, cpu, wait = start.figures()
        sim.log.record(req.method, req.path, req.raw_query, status,
                       duration, nbytes, cpu_ms=cpu, wait_ms=wait)

    def _safe(self, fn, sim, req):
        try:
            return fn(sim, req)
        except errors.SimError as e:
            err = (e.status, req.path, e.message, e.reason)
        except xu.XMLError as e:
            err = (400, req.path, str(e), 'Bad request')
        except Exception as e:
            LOG.exception('Simulator error on %s %s', req.method, req.path)
            err = (500, req.path, 'Internal simulator error: %s' % e)
        with sim.lock:
            return _error(*err)

    def _route(self, sim, req):
        if req.path == LOGON_PATH:
            if req.method == 'PUT':
                return sim.sessions.logon(req)
            if req.method == 'DELETE':
                return sim.sessions.logoff(req.token)
            raise errors.SimError(405, 'Use PUT or DELETE on Logon')
        if not req.path.startswith('/rest/api/'):
            raise errors.NotFound('No such path %s' % req.path)
        if not sim.sessions.valid(req.token):
            raise errors.SimError(401, 'Missing, unknown or expired session '
                                  'token', 'Unauthorized')
        for method, regex, fn in registry.ROUTES:
            if method == req.method:
                m = regex.match(req.path)
                if m:
                    return fn(sim, req, m)
        return rest.handle(sim, req)


def _error(status, path, message, reason=None):
    return wire.Response(status, xu.error_entry(status, path, message,
                                                reason),
                         {'Content-Type': 'application/atom+xml'})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sim, host, port):
        self.sim = sim
        http.server.HTTPServer.__init__(self, (host, port), Handler)
