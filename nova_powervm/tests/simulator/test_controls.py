"""Fault injection, latency, admin API, reset/restart, state files, CLI."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power as pvm_power
from pypowervm.wrappers import logical_partition as pvm_lpar
import requests

from nova_powervm.simulator import control
from nova_powervm.tests import base as test_base
from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_core


class TestFaults(base.SimTestCase):

    def test_status_fault_on_nth_matching_request(self):
        self.sim.inject_fault(method='GET', path='/LogicalPartition', nth=2,
                              status=503)
        pvm_lpar.LPAR.get(self.adpt)
        e = self.assertRaises(pvm_exc.HttpError, pvm_lpar.LPAR.get,
                              self.adpt)
        self.assertEqual(503, e.response.status)
        self.assertIn('Injected fault', e.response.body)
        self.assertEqual(1, len(pvm_lpar.LPAR.get(self.adpt)))

    def test_drop_and_delay(self):
        self.sim.inject_fault(path='/ManagedSystem', drop=True)
        self.assertRaises(pvm_exc.ConnectionError, self.host)
        self.assertEqual(0, self.sim.request_log()[-1]['status'])
        self.sim.inject_fault(path='/ManagedSystem', delay_s=0.3)
        start = time.monotonic()
        self.host()
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(200, self.sim.request_log()[-1]['status'])

    def test_times_and_clear(self):
        self.sim.inject_fault(path='/ManagedSystem', times=None)
        for _ in range(3):
            self.assertRaises(pvm_exc.HttpError, self.host)
        self.sim.clear_faults()
        self.host()

    def test_latency_and_counters(self):
        self.sim.set_latency(50)
        start = time.monotonic()
        self.host()
        self.assertGreaterEqual(time.monotonic() - start, 0.05)
        c = self.sim.counters()
        self.assertEqual((1, 1, 2), (c['GET'], c['PUT'], c['status_200']))
        self.assertGreaterEqual(self.sim.request_log()[-1]['duration_ms'], 50)


class TestAmbiguousWrites(base.SimTestCase):
    """after_commit faults: the change is made, the client gets an error."""

    def _names(self):
        return sorted(w.name for w in pvm_lpar.LPAR.get(self.adpt))

    def test_create_then_connection_dropped(self):
        self.sim.inject_fault(method='PUT', path='/LogicalPartition$',
                              drop=True, after_commit=True)
        self.assertRaises(pvm_exc.ConnectionError, test_core.build_lpar,
                          self)
        self.assertEqual(0, self.sim.request_log()[-1]['status'])
        self.assertEqual(['novalink', 'vm1'], self._names())

    def test_update_then_http500(self):
        w = test_core.build_lpar(self)
        w.name = 'renamed'
        self.sim.inject_fault(method='POST', after_commit=True)
        e = self.assertRaises(pvm_exc.HttpError, w.update)
        self.assertEqual(500, e.response.status)
        self.assertIn('after the change was made', e.response.body)
        self.assertEqual(['novalink', 'renamed'], self._names())

    def test_delete_then_timeout(self):
        w = test_core.build_lpar(self)
        sess = base.session(self.fix, timeout=0.5)
        self.addCleanup(sess._logoff)
        adpt = pvm_adpt.Adapter(sess)
        self.sim.inject_fault(method='DELETE', delay_s=1.5,
                              after_commit=True)
        self.assertRaises(pvm_exc.Error, adpt.delete, 'LogicalPartition',
                          root_id=w.uuid)
        self.assertEqual(['novalink'], self._names())

    def test_job_submission_then_dropped(self):
        w = test_core.build_lpar(self)
        self.sim.inject_fault(method='PUT', path='/do/PowerOn$', drop=True,
                              after_commit=True)
        self.assertRaises(pvm_exc.Error, pvm_power.power_on, w, None)
        self.assertEqual(1, self.sim.counters()['jobs_started'])
        for _ in range(50):
            w = w.refresh()
            if w.state == 'running':
                break
            time.sleep(0.05)
        self.assertEqual('running', w.state)

    def test_before_commit_changes_nothing(self):
        self.sim.inject_fault(method='PUT', path='/LogicalPartition$',
                              drop=True)
        self.assertRaises(pvm_exc.ConnectionError, test_core.build_lpar,
                          self)
        self.assertEqual(['novalink'], self._names())

    def test_job_failure_cannot_be_after_commit(self):
        self.assertRaises(ValueError, self.sim.inject_fault,
                          job_failure=True, after_commit=True)


class TestControls(base.SimTestCase):

    def test_reset_restores_seed(self):
        before = self.sim.inventory()
        test_core.build_lpar(self)
        self.sim.reset()
        self.assertEqual(before, self.sim.inventory())
        self.assertEqual(['novalink'],
                         [w.name for w in pvm_lpar.LPAR.get(self.adpt)])

    def test_restart_keeps_state_and_port(self):
        w = test_core.build_lpar(self)
        port = self.sim.port
        self.sim.restart()
        self.assertEqual(port, self.sim.port)
        self.assertEqual('vm1', pvm_lpar.LPAR.get(self.adpt,
                                                  uuid=w.uuid).name)

    def test_state_file_round_trip(self):
        w = test_core.build_lpar(self)
        path = self.sim.dump_state('state.xml')
        self.assertEqual(os.path.join(self.sim.state_dir, 'state.xml'), path)
        other = control.Simulator(state_file=path).start()
        self.addCleanup(other.close)
        self.assertEqual(self.sim.inventory(), other.inventory())
        self.assertIn(w.uuid, other.inventory()['partitions'])

    def test_admin_http_api(self):
        url = self.fix.admin_url
        requests = _AdminRequests(self.fix.admin_headers())
        info = requests.get(url + 'info', timeout=5).json()
        self.assertEqual(self.sim.vios_uuids, info['vios_uuids'])
        r = requests.post(url + 'faults', json={'path': '/ManagedSystem',
                                                'status': 500}, timeout=5)
        self.assertEqual(200, r.status_code)
        self.assertRaises(pvm_exc.HttpError, self.host)
        r = requests.post(url + 'partitions/%s/state' % self.sim.mgmt_uuid,
                          json={'state': 'open firmware'}, timeout=5)
        self.assertEqual(204, r.status_code)
        self.assertEqual('open firmware', pvm_lpar.LPAR.get(
            self.adpt, uuid=self.sim.mgmt_uuid).state)
        inv = requests.get(url + 'inventory', timeout=5).json()
        self.assertEqual(json.loads(json.dumps(self.sim.inventory())), inv)
        r = requests.post(url + 'call/set_latency', json={'ms': 0},
                          timeout=5)
        self.assertEqual(200, r.status_code)
        r = requests.post(url + 'faults', data='[1', timeout=5)
        self.assertEqual(400, r.status_code)
        self.assertEqual(404, requests.get(url + 'nope', timeout=5)
                         .status_code)
        r = requests.get(url + 'requests', timeout=5).json()
        self.assertFalse(any(e['path'].startswith('/sim/') for e in r))

    def test_concurrent_creates(self):
        host = self.host()

        def create(i):
            return _create(self, host, 'c%d' % i)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            made = list(pool.map(create, range(16)))
        ids = sorted(w.id for w in made)
        self.assertEqual(len(set(ids)), 16)
        self.assertEqual(19, len(self.sim.inventory()['partitions']))


class _AdminRequests(object):
    """requests' get/post/delete with the admin token header added."""

    def __init__(self, headers):
        self._headers = headers

    def __getattr__(self, method):
        def call(url, **kw):
            kw.setdefault('headers', {}).update(self._headers)
            return getattr(requests, method)(url, **kw)
        return call


class TestAdminDoorLocked(base.SimTestCase):

    def test_no_token_401_wrong_token_403(self):
        url = self.fix.admin_url
        for method, path in (('GET', 'info'), ('GET', 'inventory'),
                             ('POST', 'reset'), ('POST', 'faults'),
                             ('POST', 'call/dump_state')):
            r = requests.request(method, url + path, json={}, timeout=5)
            self.assertEqual(401, r.status_code, path)
            self.assertIn('X-Sim-Admin-Token', r.text)
            r = requests.request(method, url + path, json={}, timeout=5,
                                 headers={'X-Sim-Admin-Token': 'guess'})
            self.assertEqual(403, r.status_code, path)
        self.assertEqual([], self.sim.faults.list())
        self.assertFalse(os.path.exists(os.path.join(self.sim.state_dir,
                                                     'state.xml')))
        r = requests.get(url + 'info', headers=self.fix.admin_headers(),
                         timeout=5)
        self.assertEqual(200, r.status_code)

    def test_token_written_to_state_dir_only_for_owner(self):
        with open(self.sim.admin_token_file) as f:
            self.assertEqual(self.sim.admin_token, f.read().strip())
        mode = os.stat(self.sim.admin_token_file).st_mode
        self.assertEqual(0o600, mode & 0o777)

    def test_file_writes_confined_to_state_dir(self):
        admin = _AdminRequests(self.fix.admin_headers())
        outside = os.path.join(tempfile.mkdtemp(), 'state.xml')
        for path in (outside, '../escape.xml', '/etc/passwd',
                     self.sim.state_dir):
            r = admin.post(self.fix.admin_url + 'call/dump_state',
                           json={'path': path}, timeout=5)
            self.assertEqual(403, r.status_code, path)
            self.assertIn('state directory', r.text)
        self.assertFalse(os.path.exists(outside))
        self.assertFalse(os.path.exists(os.path.join(
            os.path.dirname(self.sim.state_dir), 'escape.xml')))
        self.assertRaises(ValueError, self.sim.dump_state, outside)
        r = admin.post(self.fix.admin_url + 'call/dump_state',
                       json={'path': 'saved/../state.xml'}, timeout=5)
        self.assertEqual(200, r.status_code)
        self.assertEqual(os.path.join(self.sim.state_dir, 'state.xml'),
                         r.json()['result'])

    def test_lifecycle_controls_not_offered(self):
        admin = _AdminRequests(self.fix.admin_headers())
        for name in ('stop', 'close', 'restart', 'start'):
            r = admin.post(self.fix.admin_url + 'call/' + name, json={},
                           timeout=5)
            self.assertEqual(403, r.status_code, name)
        self.assertTrue(self.sim.running)

    def test_admin_api_off(self):
        sim = control.Simulator(admin_api=False).start()
        self.addCleanup(sim.close)
        r = requests.get(sim.base_url + '/sim/admin/info', timeout=5,
                         headers={'X-Sim-Admin-Token': sim.admin_token})
        self.assertEqual(404, r.status_code)
        self.assertFalse(os.path.exists(sim.admin_token_file))

    def test_state_dir_removed_on_close_when_private(self):
        sim = control.Simulator().start()
        sim.dump_state('s.xml')
        sim.close()
        self.assertFalse(os.path.exists(sim.state_dir))
        kept = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, kept, True)
        sim = control.Simulator(state_dir=kept).start()
        sim.close()
        self.assertTrue(os.path.isfile(os.path.join(kept, 'admin-token')))

    def _unstarted(self, **kwargs):
        sim = control.Simulator(**kwargs)
        self.addCleanup(sim.close)   # removes its state directory
        return sim

    def test_bind_warning_names_what_is_exposed(self):
        self.assertIsNone(self.sim.exposure_warning())
        for host in ('0.0.0.0', '192.0.2.10', ''):
            text = self._unstarted(host=host).exposure_warning()
            self.assertIn('beyond loopback', text)
            self.assertIn('logon as neo, the default password', text)
            self.assertIn('/sim/admin/', text)
            self.assertIn('in clear', text)
        text = self._unstarted(host='0.0.0.0', admin_api=False,
                               password='x').exposure_warning()
        self.assertNotIn('/sim/admin/', text)
        self.assertNotIn('x', text.split('logon as')[1][:10])
        for host in ('127.0.0.1', '::1', 'localhost', '127.0.0.2'):
            self.assertIsNone(self._unstarted(host=host)
                              .exposure_warning())


def _create(test, host, name):
    from pypowervm.utils import lpar_builder as lb
    bldr = lb.LPARBuilder(test.adpt, {'name': name, 'memory': 1024,
                                      'vcpu': 1, 'proc_units': 0.1},
                          lb.DefaultStandardize(host))
    return bldr.build().create(parent=host)


class TestCli(test_base.TestCase):

    def test_cli_ready_line_and_logon(self):
        proc = subprocess.Popen(
            [sys.executable, '-c', 'from nova_powervm.simulator import cli;'
             'cli.main()', '--port', '0', '--username', 'u',
             '--password', 'p'],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.dirname(os.path.abspath(__file__))))))
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        line = proc.stdout.readline()
        self.assertIn('powervm-simulator ready on http://127.0.0.1:', line)
        token_file = line.split('admin token in ')[1].split(')')[0]
        with open(token_file) as f:
            token = f.read().strip()
        r = requests.get(line.split()[3] + '/sim/admin/info', timeout=5)
        self.assertEqual(401, r.status_code)
        r = requests.get(line.split()[3] + '/sim/admin/info', timeout=5,
                         headers={'X-Sim-Admin-Token': token})
        self.assertEqual(200, r.status_code)
        url = line.split()[3]
        body = ('<LogonRequest xmlns="http://www.ibm.com/xmlns/systems/power/'
                'firmware/web/mc/2012_10/" schemaVersion="V1_0"><UserID>u'
                '</UserID><Password>bad</Password></LogonRequest>')
        r = requests.put(url + '/rest/api/web/Logon', data=body, timeout=5)
        self.assertEqual(401, r.status_code)
        r = requests.put(url + '/rest/api/web/Logon',
                         data=body.replace('bad', 'p'), timeout=5)
        self.assertEqual(200, r.status_code)
        self.assertEqual('PVM', r.headers['X-MC-Type'])
