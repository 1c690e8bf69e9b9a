"""init_host against a faked REST server (requests-mock under pypowervm)."""
import os
from unittest import mock

import fixtures
from nova import test
from nova.virt import driver as nova_driver
from pypowervm.tests.test_utils import pvmhttp
import requests
from requests_mock.contrib import fixture as rm_fixture

from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import exception as exc

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
