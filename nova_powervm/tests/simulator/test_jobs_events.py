"""Power jobs, job protocol and the event feed through pypowervm."""
import threading
import time

from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power
from pypowervm.tasks import power_opts as popts
from pypowervm.wrappers import event as pvm_event
from pypowervm.wrappers import job as pvm_job
from pypowervm.wrappers import logical_partition as pvm_lpar

from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_core


class TestPowerJobs(base.SimTestCase):

    def test_power_on_off_and_capacity(self):
        w = test_core.build_lpar(self, mem=4096, units=1.5)
        self.sim.clear_request_log()
        power.power_on(w, None)
        log = self.sim.request_log()
        self.assertEqual(['GET', 'PUT', 'DELETE'],
                         [e['method'] for e in log])
        self.assertTrue(log[0]['path'].endswith('/do/PowerOn'))
        self.assertEqual('running', w.refresh().state)
        inv = self.sim.inventory()
        self.assertEqual(14.5, inv['host']['free_proc_units'])
        self.assertEqual(131072 - 4096, inv['host']['free_memory_mb'])
        # Already on: pypowervm treats HSCL3681 as success.
        power.power_on(w, None)
        power.power_off(w, None, force_immediate=power.Force.TRUE)
        self.assertEqual('not activated', w.refresh().state)
        self.assertEqual(16.0, self.sim.inventory()['host'][
            'free_proc_units'])
        # Already off is not an error either (HSCL1558).
        power.power_off(w, None, force_immediate=power.Force.TRUE)

    def test_restart_and_vios(self):
        vios = self.sim.vios_uuids[1]
        from pypowervm.wrappers import virtual_io_server as pvm_vios
        v = pvm_vios.VIOS.get(self.adpt, uuid=vios)
        power.power_off(v, None, add_parms=popts.PowerOffOpts().vsp_hard()
                        .restart())
        self.assertEqual('running', v.refresh().state)

    def test_os_shutdown_needs_rmc(self):
        w = test_core.build_lpar(self)
        power.power_on(w, None)
        job = pvm_job.Job.wrap(self.adpt.read(
            'LogicalPartition', w.uuid, suffix_type='do',
            suffix_parm='PowerOff'))
        e = self.assertRaises(
            pvm_exc.JobRequestFailed, job.run_job, w.uuid, timeout=5,
            job_parms=[job.create_job_parameter('operation', 'osshutdown')])
        self.assertIn('RMC', str(e))
        self.assertEqual('running', w.refresh().state)
        self.sim.set_partition_state(w.uuid, 'running')  # RMC stays off

    def test_boot_modes(self):
        w = test_core.build_lpar(self)
        # SMS (and open firmware) stop in firmware.
        power.power_on(w, None, add_parms=popts.PowerOnOpts().bootmode(
            popts.BootMode.SMS))
        self.assertEqual('open firmware', w.refresh().state)
        power.power_off(w, None, force_immediate=power.Force.TRUE)
        job = pvm_job.Job.wrap(self.adpt.read(
            'LogicalPartition', w.uuid, suffix_type='do',
            suffix_parm='PowerOn'))
        e = self.assertRaises(
            pvm_exc.JobRequestFailed, job.run_job, w.uuid, timeout=5,
            job_parms=[job.create_job_parameter('bootmode', 'cdrom')])
        self.assertIn('cdrom', str(e))
        self.assertEqual('not activated', w.refresh().state)
        power.power_on(w, None, add_parms=popts.PowerOnOpts().bootmode(
            popts.BootMode.NORM))
        self.assertEqual('running', w.refresh().state)

    def test_not_enough_memory(self):
        w = test_core.build_lpar(self, mem=200 * 1024)
        self.assertRaises(pvm_exc.VMPowerOnFailure, power.power_on, w, None)
        self.assertEqual('not activated', w.refresh().state)

    def test_job_failure_fault(self):
        w = test_core.build_lpar(self)
        self.sim.inject_fault(method='PUT', path='/do/PowerOn$',
                              job_failure=True)
        e = self.assertRaises(pvm_exc.VMPowerOnFailure, power.power_on, w,
                              None)
        self.assertIn('Simulated job failure', str(e))
        self.assertEqual('not activated', w.refresh().state)
        power.power_on(w, None)
        self.assertEqual('running', w.refresh().state)

    def test_unknown_job_fails_cleanly(self):
        resp = self.adpt.read('LogicalPartition', self.sim.mgmt_uuid,
                              suffix_type='do', suffix_parm='Frobnicate')
        job = pvm_job.Job.wrap(resp)
        e = self.assertRaises(pvm_exc.JobRequestFailed, job.run_job,
                              self.sim.mgmt_uuid, timeout=5)
        self.assertIn('not modelled', str(e))


class TestSlowJob(base.SimTestCase):
    sim_kwargs = {'event_hold_s': 0.5, 'power_delay_s': 1.2}

    def test_running_job_is_polled(self):
        self.sim.sync_job_max_s = 0.1
        w = test_core.build_lpar(self)
        self.sim.clear_request_log()
        power.power_on(w, None)
        paths = [e['path'] for e in self.sim.request_log()]
        self.assertTrue(any('/jobs/' in p for p in paths[2:-1]), paths)
        self.assertEqual('running', w.refresh().state)

    def test_timeout_cancels_job(self):
        self.sim.sync_job_max_s = 0.1
        # Long enough that a loaded machine still sees the job unfinished
        # after the client gave up on it.
        self.sim.power_delay_s = 4.0
        w = test_core.build_lpar(self)
        job = pvm_job.Job.wrap(self.adpt.read(
            'LogicalPartition', w.uuid, suffix_type='do',
            suffix_parm='PowerOn'))
        self.assertRaises(pvm_exc.JobRequestTimedOut, job.run_job, w.uuid,
                          timeout=0.5)
        posts = [e for e in self.sim.request_log() if e['method'] == 'POST']
        self.assertTrue(posts[-1]['path'].endswith('/cancel'))
        self.assertEqual('starting', w.refresh().state)
        # Like PowerVM, the operation itself still completes.
        deadline = time.monotonic() + 15
        w = w.refresh()
        while w.state != 'running' and time.monotonic() < deadline:
            time.sleep(0.2)
            w = w.refresh()
        self.assertEqual('running', w.state)


class _Collector(pvm_adpt.RawEventHandler):
    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def process(self, events):
        with self.cond:
            self.events.extend(events)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=5):
        end = time.monotonic() + timeout
        with self.cond:
            while not any(pred(e) for e in self.events):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


class TestEvents(base.SimTestCase):

    def _listen(self):
        listener = self.sess.get_event_listener()
        handler = _Collector()
        listener.subscribe(handler)
        # Unsubscribe one by one (EventListener.shutdown() skips handlers).
        self.addCleanup(listener.unsubscribe, handler)
        return handler

    def test_lifecycle_events(self):
        handler = self._listen()
        w = test_core.build_lpar(self)
        self.assertTrue(handler.wait_for(
            lambda e: e['EventType'] == 'ADD_URI' and
            e['EventData'].endswith('/LogicalPartition/' + w.uuid)))
        power.power_on(w, None)
        self.assertTrue(handler.wait_for(
            lambda e: e['EventType'] == 'MODIFY_URI' and
            w.uuid in e['EventData'] and
            e['EventDetail'] == 'PartitionState'))
        self.sim.set_partition_state(w.uuid, 'not activated')
        self.assertEqual('not activated',
                         pvm_lpar.LPAR.get(self.adpt, uuid=w.uuid).state)
        power.power_off(w, None)   # already off behind our back: fine
        w.refresh().delete()
        self.assertTrue(handler.wait_for(
            lambda e: e['EventType'] == 'DELETE_URI' and
            w.uuid in e['EventData']))

    def test_idle_poll_is_held(self):
        self._listen()
        time.sleep(1.6)
        polls = [e for e in self.sim.request_log()
                 if e['path'].endswith('/Event')]
        # event_hold_s=0.5: a handful of polls, not hundreds.
        self.assertLess(len(polls), 8)
        self.assertGreaterEqual(len(polls), 2)
        self.assertIn(204, [p['status'] for p in polls])

    def test_client_pushed_event_reaches_every_listener(self):
        # As nova 25's in-tree driver did once per VIF plug.
        first = self._listen()
        other_sess = base.session(self.fix)
        self.addCleanup(other_sess._logoff)
        other_listener = other_sess.get_event_listener()
        second = _Collector()
        other_listener.subscribe(second)
        self.addCleanup(other_listener.unsubscribe, second)
        href = self.sim.base_url + '/rest/api/uom/ClientNetworkAdapter/x'
        pushed = pvm_event.Event.bld(self.adpt, href, 'detail-1').create()
        self.assertEqual('CUSTOM_CLIENT_EVENT', pushed.etype)
        self.assertEqual(href, pushed.data)
        self.assertEqual('detail-1', pushed.detail)
        self.assertTrue(pushed.eid)
        put = [e for e in self.sim.request_log() if e['method'] == 'PUT' and
               e['path'] == '/rest/api/uom/Event']
        self.assertEqual([200], [e['status'] for e in put])

        def is_pushed(e):
            return (e['EventType'] == 'CUSTOM_CLIENT_EVENT' and
                    e['EventData'] == href and
                    e['EventDetail'] == 'detail-1' and
                    e['EventID'] == pushed.eid)
        self.assertTrue(first.wait_for(is_pushed))
        self.assertTrue(second.wait_for(is_pushed))
