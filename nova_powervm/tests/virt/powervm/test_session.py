"""init_host against a faked REST server (requests-mock under pypowervm)."""
import os
from unittest import mock

import fixtures
from nova import test
from nova.virt import driver as nova_driver
from pypowervm.tests.test_utils import pvmhttp
import requests
import requests_mock
from requests_mock.contrib import fixture as rm_fixture

from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import session

LOGON_BODY = open(os.path.join(os.path.dirname(pvmhttp.__file__), '..',
                               'data', 'logon.xml')).read()
BASE = 'https://pvm.example.com:12443'
PASSWORD = 'Sup3r-S3cret!'


class TestInitHost(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', host='pvm.example.com',
                   username='neo', password=PASSWORD, conn_tries=2,
                   certpath='')
        # pypowervm sleeps between connection retries; keep tests fast.
        self.useFixture(fixtures.MockPatch('time.sleep'))
        self.rmock = self.useFixture(rm_fixture.Fixture())
        # The VIOS wait and the scrub are covered in test_startup.
        self.wait = self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.startup.wait_for_vioses')).mock
        self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.startup.scrub'))
        self.drv = nova_driver.load_compute_driver(
            mock.Mock(), 'powervm.PowerVMDriver')
        self.addCleanup(self._logoff)

    def _logoff(self):
        # Log off while the fake server still answers.
        if self.drv.adapter is not None:
            self.drv.adapter.session._logoff()

    def _logon_ok(self):
        self.rmock.put(BASE + '/rest/api/web/Logon', text=LOGON_BODY,
                       headers={'X-MC-Type': 'PVM'})
        self.rmock.delete(BASE + '/rest/api/web/Logon', status_code=204)

    def test_loaded_by_nova_name(self):
        self.assertIsInstance(self.drv, driver.PowerVMDriver)
        self.assertIsInstance(self.drv, nova_driver.ComputeDriver)

    def test_init_host_reads_managed_system(self):
        self._logon_ok()
        ms = pvmhttp.PVMFile('fake_managedsystem.txt')
        self.rmock.get(BASE + '/rest/api/uom/ManagedSystem', text=ms.body,
                       headers={'etag': '1'})
        # The rest of init_host (disk driver, mgmt partition, event feed) is
        # covered in test_driver.
        dsk = self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.disk.driver.get_disk_driver')).mock
        dsk.return_value.capabilities = {'has_imagecache': True}
        dsk.return_value.image_formats = ('raw',)
        self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.mgmt.mgmt_uuid'))
        self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.event.start_listener'))
        self.drv.init_host('compute1')
        self.assertEqual('c889bf0d-9996-33ac-84c5-d16727083a77',
                         self.drv.host_uuid)
        logon = self.rmock.request_history[0]
        self.assertEqual('PUT', logon.method)
        self.assertIn(b'<UserID>neo</UserID>',
                      logon.body)
        get = self.rmock.request_history[1]
        self.assertEqual('/rest/api/uom/managedsystem', get.path)

    def test_unreachable_server_names_host_and_port(self):
        self.rmock.put(BASE + '/rest/api/web/Logon',
                       exc=requests.exceptions.ConnectionError('refused'))
        with self.assertLogs(level='DEBUG') as logs:
            err = self.assertRaises(exc.RestServerUnreachable,
                                    self.drv.init_host, 'compute1')
        self.assertIn('pvm.example.com:12443', str(err))
        self.assertIn('2 attempt', str(err))
        self.assertEqual(2, self.rmock.call_count)
        self.assertNotIn(PASSWORD, '\n'.join(logs.output))
        self.assertNotIn(PASSWORD, str(err))

    def test_bad_credentials(self):
        self.rmock.put(BASE + '/rest/api/web/Logon', status_code=401,
                       text='')
        err = self.assertRaises(exc.RestAuthenticationFailed,
                                self.drv.init_host, 'compute1')
        self.assertIn('neo', str(err))
        self.assertIn('401', str(err))
        self.assertNotIn(PASSWORD, str(err))

    def test_no_managed_system(self):
        self._logon_ok()
        self.rmock.get(BASE + '/rest/api/uom/ManagedSystem', status_code=204)
        self.assertRaises(exc.ManagedSystemNotFound,
                          self.drv.init_host, 'compute1')

    def test_hmc_refused_before_anything_else(self):
        self.rmock.put(BASE + '/rest/api/web/Logon', text=LOGON_BODY,
                       headers={'X-MC-Type': 'HMC'})
        self.rmock.delete(BASE + '/rest/api/web/Logon', status_code=204)
        err = self.assertRaises(exc.NotNovaLink, self.drv.init_host,
                                'compute1')
        self.assertIn('pvm.example.com:12443', str(err))
        self.assertIn('management console type HMC', str(err))
        self.assertIn('NovaLink', str(err))
        # Nothing but the logon reached the HMC.
        self.assertEqual(['PUT'], [r.method for r in
                                   self.rmock.request_history])
        self.wait.assert_not_called()

    def test_no_mc_type_header_is_an_hmc(self):
        # pypowervm takes a missing X-MC-Type for an HMC; so does the driver.
        self.rmock.put(BASE + '/rest/api/web/Logon', text=LOGON_BODY)
        self.rmock.delete(BASE + '/rest/api/web/Logon', status_code=204)
        self.assertRaises(exc.NotNovaLink, self.drv.init_host, 'compute1')


class TestClearTextWarning(test.NoDBTestCase):
    """[powervm] protocol = http with a password for a remote host."""

    def _connect(self, host, **flags):
        self.flags(group='powervm', host=host, username='neo',
                   password=PASSWORD, conn_tries=1, **flags)
        rmock = self.useFixture(rm_fixture.Fixture())
        rmock.put(requests_mock.ANY, text=LOGON_BODY,
                  headers={'X-MC-Type': 'PVM'})
        rmock.delete(requests_mock.ANY, status_code=204)
        with self.assertLogs('nova_powervm', level='DEBUG') as logs:
            adapter = session.build_adapter()
        adapter.session._logoff()
        return '\n'.join(logs.output), rmock.request_history[0].url

    def test_http_password_remote_host_warns_loudly(self):
        out, url = self._connect('pvm.example.com', protocol='http')
        self.assertEqual('http://pvm.example.com:12080/rest/api/web/Logon',
                         url)
        warnings = [line for line in out.splitlines()
                    if line.startswith('WARNING')]
        self.assertEqual(1, len(warnings), out)
        self.assertIn('pvm.example.com:12080', warnings[0])
        self.assertIn('IN CLEAR TEXT', warnings[0])
        self.assertIn('protocol = https', warnings[0])
        self.assertNotIn(PASSWORD, out)

    def test_no_warning_for_https_or_loopback(self):
        for host, proto in (('pvm.example.com', 'https'),
                            ('localhost', 'http'), ('127.0.0.1', 'http'),
                            ('::1', 'http')):
            out, _url = self._connect(host, protocol=proto, certpath='')
            self.assertNotIn('CLEAR TEXT', out, host)
            self.assertNotIn(PASSWORD, out)
