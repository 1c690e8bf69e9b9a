"""A Swift object store with Keystone v3 and TempAuth logon, on loopback.

What python-swiftclient talks to, faithful to the OpenStack APIs for the
requests the NVRAM store sends: Keystone v3 password logon
(``POST /v3/auth/tokens``: 201 with ``X-Subject-Token`` and a catalog with
an ``object-store`` service; 401 for bad credentials), TempAuth
(``GET /auth/v1.0`` with ``X-Auth-User``/``X-Auth-Key``), and the Swift
account API: container ``PUT`` (201, 202 when it exists), object ``PUT``
(201 with ``Etag``; 404 without the container; 422 when the body does not
match the ``Etag`` sent), ``GET``/``HEAD`` (200 or 404), ``DELETE`` (204
or 404); 401 without a valid ``X-Auth-Token``.  State is in memory:
``objects[(container, name)] = bytes``.  ``down = True`` makes it close
every connection unanswered (an unreachable store); ``requests`` logs
(method, path, status).
"""
import hashlib
import http.server
import json
import secrets
import threading
import urllib.parse


class SwiftServer(object):
    """Start with start(); stop() closes the socket."""

    def __init__(self, user='powervm', password='swift-secret',
                 project='powervm', domain='powervm'):
        self.user = user
        self.password = password
        self.project = project
        self.domain = domain
        self.project_id = secrets.token_hex(16)
        self.account = 'AUTH_' + self.project_id
        self.tokens = set()
        self.containers = set()
        self.objects = {}
        self.requests = []
        self.down = False
        self.lock = threading.Lock()
        self._httpd = None
        self._thread = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self._httpd.server_address[1]

    @property
    def auth_url(self):
        return self.url + '/v3'

    @property
    def storage_url(self):
        return '%s/v1/%s' % (self.url, self.account)

    def start(self):
        server = self

        class Handler(_Handler):
            swift = server
        self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def object(self, container, name):
        with self.lock:
            return self.objects.get((container, name))

    # -- requests ----------------------------------------------------------

    def _issue_token(self):
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return token

    def keystone_v3(self, body):
        try:
            ident = body['auth']['identity']
            user = ident['password']['user']
            proj = body['auth']['scope']['project']
            ok = (user['name'] == self.user and
                  user['password'] == self.password and
                  user['domain']['name'] == self.domain and
                  proj['name'] == self.project and
                  proj['domain']['name'] == self.domain)
        except (KeyError, TypeError):
            ok = False
        if not ok:
            return 401, {}, json.dumps({'error': {
                'code': 401, 'title': 'Unauthorized',
                'message': 'The request you have made requires '
                           'authentication.'}}).encode()
        token = self._issue_token()
        endpoints = [{'id': secrets.token_hex(8), 'interface': iface,
                      'region': 'RegionOne', 'region_id': 'RegionOne',
                      'url': self.storage_url}
                     for iface in ('public', 'internal', 'admin')]
        doc = {'token': {
            'methods': ['password'], 'expires_at': '2099-01-01T00:00:00Z',
            'issued_at': '2026-01-01T00:00:00Z',
            'user': {'id': 'u1', 'name': self.user,
                     'domain': {'id': 'd1', 'name': self.domain}},
            'project': {'id': self.project_id, 'name': self.project,
                        'domain': {'id': 'd1', 'name': self.domain}},
            'roles': [{'id': 'r1', 'name': 'member'}],
            'catalog': [{'id': 's1', 'type': 'object-store',
                         'name': 'swift', 'endpoints': endpoints}]}}
        return 201, {'X-Subject-Token': token}, json.dumps(doc).encode()

    def tempauth(self, headers):
        if (headers.get('X-Auth-User') != '%s:%s' % (self.project,
                                                     self.user) or
                headers.get('X-Auth-Key') != self.password):
            return 401, {}, b'Unauthorized'
        token = self._issue_token()
        return 200, {'X-Auth-Token': token, 'X-Storage-Token': token,
                     'X-Storage-Url': self.storage_url}, b''

    def swift(self, method, parts, headers, body):
        if headers.get('X-Auth-Token') not in self.tokens:
            return 401, {}, b'Unauthorized'
        if len(parts) < 3 or parts[1] != self.account:
            return 404, {}, b'Not Found'
        container = parts[2]
        if len(parts) == 3:
            if method == 'PUT':
                created = container not in self.containers
                self.containers.add(container)
                return (201 if created else 202), {}, b''
            return 405, {}, b'Method Not Allowed'
        name = '/'.join(parts[3:])
        key = (container, name)
        if method == 'PUT':
            if container not in self.containers:
                return 404, {}, b'Not Found'
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            sent = headers.get('Etag')
            if sent and sent.strip('"') != etag:
                return 422, {}, b'Unprocessable Entity'
            self.objects[key] = body
            return 201, {'Etag': etag}, b''
        if key not in self.objects:
            return 404, {}, b'Not Found'
        data = self.objects[key]
        if method in ('GET', 'HEAD'):
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            return 200, {'Etag': etag, 'Content-Type': 'text/plain'}, data
        if method == 'DELETE':
            del self.objects[key]
            return 204, {}, b''
        return 405, {}, b'Method Not Allowed'


class _Handler(http.server.BaseHTTPRequestHandler):
    swift = None
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _handle(self):
        srv = self.swift
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        if srv.down:
            self.close_connection = True
            self.connection.close()
            return
        path = urllib.parse.urlsplit(self.path).path
        parts = [urllib.parse.unquote(p) for p in path.strip('/').split('/')]
        method = self.command
        with srv.lock:
            if method == 'POST' and path.rstrip('/') == '/v3/auth/tokens':
                status, headers, out = srv.keystone_v3(json.loads(body))
            elif method == 'GET' and path.startswith('/auth/v1'):
                status, headers, out = srv.tempauth(self.headers)
            elif parts[0] == 'v1':
                status, headers, out = srv.swift(method, parts, self.headers,
                                                 body)
            else:
                status, headers, out = 404, {}, b'Not Found'
            srv.requests.append((method, path, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        # A HEAD's length is the object's, sent without its body.
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        if method != 'HEAD':
            self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
