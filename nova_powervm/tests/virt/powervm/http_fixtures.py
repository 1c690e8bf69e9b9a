"""Shared set-up of the HTTP transport tests (http_reuse, http_conn, TLS)."""
import threading

import fixtures
from pypowervm import adapter as pvm_adpt

from nova_powervm.virt.powervm import http_reuse

_ENV = ('HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy',
        'no_proxy', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')


class CleanEnvironment(fixtures.Fixture):
    """No proxy or CA bundle variables; http_reuse's cached copy forgotten."""

    def _setUp(self):
        self.useFixture(fixtures.MockPatchObject(http_reuse, '_environment',
                                                 {}))
        for name in _ENV:
            self.useFixture(fixtures.EnvironmentVariable(name))


class FreshPool(CleanEnvironment):
    """pypowervm uses ``requests_module``; no idle pooled session kept."""

    def __init__(self, requests_module):
        super().__init__()
        self.requests_module = requests_module

    def _setUp(self):
        self.useFixture(fixtures.MockPatchObject(pvm_adpt, 'requests',
                                                 self.requests_module))
        self.useFixture(fixtures.MockPatchObject(http_reuse, '_idle', []))
        self.addCleanup(http_reuse.close_idle)
        super()._setUp()


def serve(test, server):
    """Serve ``server`` in a thread until ``test`` ends; returns it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    test.addCleanup(thread.join, 5)
    test.addCleanup(server.server_close)
    test.addCleanup(server.shutdown)
    return server
