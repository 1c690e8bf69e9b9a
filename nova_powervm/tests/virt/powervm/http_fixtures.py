"""Shared set-up of the HTTP transport tests (http_reuse, http_conn, TLS)."""
import datetime
import ipaddress
import os
import threading

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509 import oid

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


def self_signed(directory, ip='127.0.0.1', days=(-1, 1)):
    """(certificate, key) files of a new self-signed certificate for ip.

    Valid from ``days[0]`` to ``days[1]`` days from now.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = x509.CertificateBuilder().subject_name(name).issuer_name(
        name).public_key(key.public_key()).serial_number(
        x509.random_serial_number()).not_valid_before(
        now + datetime.timedelta(days=days[0])).not_valid_after(
        now + datetime.timedelta(days=days[1])).add_extension(
        x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address(ip))]), critical=False
    ).add_extension(x509.BasicConstraints(ca=True, path_length=None),
                    critical=True).sign(key, hashes.SHA256())
    cert_path = os.path.join(directory, 'c%d.pem' % len(os.listdir(
        directory)))
    key_path = cert_path + '.key'
    with open(cert_path, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path
