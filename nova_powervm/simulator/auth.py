"""Logon sessions: password and file-based logon, expiry, logoff."""
import os
import secrets
import shutil
import tempfile
import threading
import time

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import wire
from nova_powervm.simulator import xmlutil as xu


class SessionStore(object):
    """Tokens handed out by PUT /rest/api/web/Logon."""

    def __init__(self, username, password, timeout_s=None, xml_lock=None,
                 file_users=None, token_dir=None):
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        # Users NovaLink's file-based (local) logon accepts; as on a real
        # NovaLink, only these local users, not any name.
        self.file_users = frozenset(
            (username,) if file_users is None else file_users)
        self._tokens = {}
        self._lock = threading.Lock()
        # The simulator's state lock: XML work runs under it (see xmlutil).
        self._xml_lock = xml_lock or threading.RLock()
        self._dir = None
        self._dir_base = token_dir
        self.logons = 0
        self.failed_logons = 0

    def _token_dir(self):
        with self._lock:
            if self._dir is None:
                if self._dir_base is not None:
                    os.makedirs(self._dir_base, mode=0o700, exist_ok=True)
                self._dir = tempfile.mkdtemp(prefix='tokens-',
                                             dir=self._dir_base)
            return self._dir

    def valid(self, token):
        if not token:
            return False
        with self._lock:
            created = self._tokens.get(token)
            if created is None:
                return False
            if self.timeout_s is not None and \
                    time.monotonic() - created > self.timeout_s:
                del self._tokens[token]
                return False
            return True

    def expire_all(self):
        with self._lock:
            self._tokens.clear()

    def count(self):
        with self._lock:
            return len(self._tokens)

    def logon(self, req):
        """Answer a LogonRequest (password or session-file)."""
        body = req.body()
        with self._xml_lock:
            return self._logon(body)

    def _logon(self, body):
        try:
            el = xu.parse(body)
        except xu.XMLError as e:
            raise errors.BadRequest(str(e))
        if xu.localname(el) != 'LogonRequest':
            raise errors.BadRequest('Expected a LogonRequest')
        user = xu.text(el, 'UserID')
        password = xu.text(el, 'Password')
        use_file = (xu.text(el, 'GenerateX-API-SessionFile') or '') == 'true'
        if use_file:
            ok = bool(user) and user in self.file_users
        else:
            ok = (user == self.username and password is not None and
                  secrets.compare_digest(password, self.password))
        if not ok:
            with self._lock:
                self.failed_logons += 1
            raise errors.SimError(401, 'Logon failed for user %s' % user,
                                  'Unauthorized')
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = time.monotonic()
            self.logons += 1
        resp = etree.Element('{%s}LogonResponse' % xu.WEB_NS,
                             nsmap={None: xu.WEB_NS},
                             attrib={'schemaVersion': 'V1_1_0'})
        xu.metadata(resp)
        if use_file:
            fd, path = tempfile.mkstemp(dir=self._token_dir(),
                                        prefix='token-')
            with os.fdopen(fd, 'w') as f:
                f.write(token)
            xu.make(resp, 'X-API-SessionFile', path)
        else:
            xu.make(resp, 'X-API-Session', token)
        return wire.Response(200, etree.tostring(
            resp, xml_declaration=True, encoding='UTF-8', standalone=True),
            {'Content-Type': 'application/vnd.ibm.powervm.web+xml; '
                             'type=LogonResponse'})

    def logoff(self, token):
        with self._lock:
            self._tokens.pop(token, None)
        return wire.Response(204)

    def cleanup(self):
        with self._lock:
            tdir, self._dir = self._dir, None
        if tdir and os.path.isdir(tdir):
            shutil.rmtree(tdir, ignore_errors=True)
