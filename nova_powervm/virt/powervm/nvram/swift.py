"""NVRAM store in an OpenStack Swift container (python-swiftclient).

One object per instance UUID in ``[powervm] swift_container``, shared by
every compute host, so an evacuated or migrated instance finds it.  Each
worker thread keeps its own connection (swiftclient's are not thread-safe);
a 401 re-authenticates.  Uploads carry their MD5 so Swift refuses a
damaged body.
"""
import hashlib
import io
import threading

from swiftclient import client as swift_client

from nova_powervm.virt.powervm.nvram import base

# Tries of one request inside swiftclient (the manager retries later).
RETRIES = 1
TIMEOUT = 30


class SwiftNvramStore(base.NvramStore):
    """Objects ``<instance uuid>`` in one container (made when missing)."""

    def __init__(self, conf):
        self.conf = conf
        self.container = conf.swift_container
        self._local = threading.local()

    def _conn(self):
        conn = getattr(self._local, 'conn', None)
        if conn is None:
            c = self.conf
            user = c.swift_username
            if c.swift_auth_version == '1' and ':' not in user:
                # TempAuth names users <account>:<user>.
                user = '%s:%s' % (c.swift_project_name, user)
            conn = swift_client.Connection(
                authurl=c.swift_auth_url, user=user,
                key=c.swift_password, auth_version=c.swift_auth_version,
                os_options={
                    'user_domain_name': c.swift_user_domain_name,
                    'project_name': c.swift_project_name,
                    'project_domain_name': c.swift_project_domain_name,
                    'endpoint_type': c.swift_endpoint_type},
                tenant_name=c.swift_project_name,
                cacert=c.swift_cacert or None, retries=RETRIES,
                starting_backoff=0.5, timeout=TIMEOUT)
            self._local.conn = conn
        return conn

    def store(self, key, data):
        key = base.check_key(key)
        body = data.encode('ascii')
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        conn = self._conn()
        try:
            self._put(conn, key, body, etag)
        except swift_client.ClientException as e:
            if e.http_status != 404:
                raise
            # No container yet.
            conn.put_container(self.container)
            self._put(conn, key, body, etag)

    def _put(self, conn, key, body, etag):
        # A file object: swiftclient resends it after a new logon.
        conn.put_object(self.container, key, io.BytesIO(body), etag=etag,
                        content_length=len(body), content_type='text/plain')

    def fetch(self, key):
        try:
            _headers, body = self._conn().get_object(self.container,
                                                     base.check_key(key))
        except swift_client.ClientException as e:
            if e.http_status == 404:
                return None
            raise
        return body.decode('ascii')

    def delete(self, key):
        try:
            self._conn().delete_object(self.container, base.check_key(key))
        except swift_client.ClientException as e:
            if e.http_status != 404:
                raise
