"""Unit tests for power.py: the jobs sent through pypowervm's power API.

pypowervm's own PowerOp / power_off_progressive run unmocked; only the job
itself (``Job.run_job``) and the template read are faked, so the tests see
the job parameters that would go to the REST API.
"""
import inspect
from unittest import mock

import fixtures
from nova.compute import power_state
from nova.compute import vm_states
from nova import exception as nova_exc
from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power as pvm_pwr
from pypowervm.tests.test_utils import pvmhttp
from pypowervm.wrappers import job as pvm_job

from nova_powervm.tests.virt.powervm import test_vm
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import power

PVM_UUID = test_vm.PVM_UUID
_STOP_DEFAULT_TIMEOUT = inspect.signature(
    pvm_pwr.PowerOp.stop).parameters['timeout'].default


def _parms(job_parms):
    return {p.find('ParameterName').text: p.find('ParameterValue').text
            for p in job_parms or []}


class _Jobs(object):
    """Records the power jobs sent; ``results`` feeds their outcomes."""

    def __init__(self, test_case):
        self.test_case = test_case
        self.sent = []
        self.results = []
        self.adpt = mock.Mock()
        tmpl = pvmhttp.load_pvm_resp(
            'job_request_power_off.txt').get_response()
        self.adpt.read.return_value = tmpl
        test_case.useFixture(test_case.patch_run_job(self._run_job))

    def _run_job(self, *args, **kw):
        # The job's target: the partition.
        self.test_case.assertIn(PVM_UUID, args)
        op = self.adpt.read.call_args[1]['suffix_parm']
        self.sent.append((op, _parms(kw.get('job_parms')), kw.get('timeout')))
        result = self.results.pop(0) if self.results else None
        if isinstance(result, Exception):
            raise result
        return None

    def part(self, state='running', env='AIX/Linux', rmc='inactive'):
        part = mock.Mock(state=state, env=env, rmc_state=rmc,
                         uuid=PVM_UUID, adapter=self.adpt,
                         schema_type='LogicalPartition')
        part.name = 'vm1'
        return part


def failed(op, msg='HSCL9999 no'):
    return pvm_exc.JobRequestFailed(operation_name=op, error=msg)


class TestPower(test.NoDBTestCase):

    def patch_run_job(self, fn):
        return fixtures.MockPatchObject(pvm_job.Job, 'run_job',
                                        side_effect=fn)

    def setUp(self):
        super().setUp()
        self.flags(pypowervm_job_request_timeout=120)
        self.jobs = _Jobs(self)
        self.inst = test_vm.make_instance()

    def test_power_off_skips_states_that_cannot_stop(self):
        for state in ('not activated', 'migrating running',
                      'migrating not active', 'suspended', 'not available',
                      'hardware discovery', 'Unknown'):
            power.power_off(self.jobs.adpt, self.inst,
                            lpar_w=self.jobs.part(state))
            power.power_off(self.jobs.adpt, self.inst, force_immediate=True,
                            lpar_w=self.jobs.part(state))
        self.assertEqual([], self.jobs.sent)
        self.assertFalse(self.jobs.adpt.read.called)

    def test_power_off_hard(self):
        for state in ('running', 'starting', 'open firmware', 'error',
                      'shutting down', 'suspending', 'resuming'):
            self.jobs.sent[:] = []
            power.power_off(self.jobs.adpt, self.inst, force_immediate=True,
                            lpar_w=self.jobs.part(state))
            self.assertEqual(
                [('PowerOff', {'operation': 'shutdown', 'immediate': 'true'},
                  120)], self.jobs.sent, state)

    def test_progressive_os_immediate_with_rmc(self):
        power.power_off(self.jobs.adpt, self.inst, timeout=30,
                        lpar_w=self.jobs.part(rmc='active'))
        self.assertEqual(
            [('PowerOff', {'operation': 'osshutdown', 'immediate': 'true'},
              30)], self.jobs.sent)

    def test_progressive_os_fails_then_vsp_normal_then_hard(self):
        self.jobs.results = [failed('PowerOff'), failed('PowerOff'), None]
        power.power_off(self.jobs.adpt, self.inst, timeout=30,
                        lpar_w=self.jobs.part(rmc='active'))
        self.assertEqual(
            [('PowerOff', {'operation': 'osshutdown', 'immediate': 'true'},
              30),
             ('PowerOff', {'operation': 'shutdown'}, 120),
             # pypowervm's last resort uses its import-time default.
             ('PowerOff', {'operation': 'shutdown', 'immediate': 'true'},
              _STOP_DEFAULT_TIMEOUT)], self.jobs.sent)

    def test_progressive_os_timeout_goes_hard(self):
        self.jobs.results = [pvm_exc.JobRequestTimedOut(
            operation_name='PowerOff', seconds=30), None]
        power.power_off(self.jobs.adpt, self.inst, timeout=30,
                        lpar_w=self.jobs.part(rmc='active'))
        self.assertEqual(['osshutdown', 'shutdown'],
                         [p['operation'] for _o, p, _t in self.jobs.sent])
        self.assertEqual('true', self.jobs.sent[1][1]['immediate'])

    def test_progressive_no_rmc_starts_with_vsp_normal(self):
        power.power_off(self.jobs.adpt, self.inst, timeout=30,
                        lpar_w=self.jobs.part(rmc='inactive'))
        self.assertEqual([('PowerOff', {'operation': 'shutdown'}, 30)],
                         self.jobs.sent)

    def test_progressive_ibmi_os_normal_first(self):
        power.power_off(self.jobs.adpt, self.inst, timeout=30,
                        lpar_w=self.jobs.part(env='OS400'))
        self.assertEqual([('PowerOff', {'operation': 'osshutdown'}, 30)],
                         self.jobs.sent)

    def test_power_off_failure(self):
        self.jobs.results = [failed('PowerOff', 'stuck')]
        err = self.assertRaises(
            nova_exc.InstancePowerOffFailure, power.power_off,
            self.jobs.adpt, self.inst, force_immediate=True,
            lpar_w=self.jobs.part())
        self.assertIn('stuck', str(err))

    def test_power_off_already_off_race_is_success(self):
        # The partition stopped between the read and the job (HSCL1558).
        self.jobs.results = [failed('PowerOff', 'HSCL1558 already off')]
        power.power_off(self.jobs.adpt, self.inst, force_immediate=True,
                        lpar_w=self.jobs.part())

    def test_power_on(self):
        power.power_on(self.jobs.adpt, self.inst,
                       lpar_w=self.jobs.part('not activated'))
        self.assertEqual([('PowerOn', {}, 120)], self.jobs.sent)
        self.jobs.results = [failed('PowerOn', 'HSCL12B5 no memory')]
        err = self.assertRaises(
            nova_exc.InstancePowerOnFailure, power.power_on, self.jobs.adpt,
            self.inst, lpar_w=self.jobs.part('not activated'))
        self.assertIn('HSCL12B5', str(err))

    def test_power_on_running_or_unstartable(self):
        for state in ('running', 'starting', 'open firmware', 'error'):
            power.power_on(self.jobs.adpt, self.inst,
                           lpar_w=self.jobs.part(state))
        err = self.assertRaises(
            nova_exc.InstancePowerOnFailure, power.power_on, self.jobs.adpt,
            self.inst, lpar_w=self.jobs.part('suspended'))
        self.assertIn('suspended', str(err))
        self.assertEqual([], self.jobs.sent)

    @mock.patch('nova_powervm.virt.powervm.vm.get_instance_wrapper')
    def test_reboot(self, get):
        get.return_value = self.jobs.part(rmc='active')
        power.reboot(self.jobs.adpt, self.inst, hard=False)
        self.assertEqual(
            [('PowerOff', {'operation': 'osshutdown', 'immediate': 'true',
                           'restart': 'true'}, 120)], self.jobs.sent)
        self.jobs.sent[:] = []
        power.reboot(self.jobs.adpt, self.inst, hard=True)
        self.assertEqual(
            [('PowerOff', {'operation': 'shutdown', 'immediate': 'true',
                           'restart': 'true'}, 120)], self.jobs.sent)
        self.jobs.sent[:] = []
        get.return_value = self.jobs.part('not activated')
        power.reboot(self.jobs.adpt, self.inst, hard=True)
        self.assertEqual([('PowerOn', {}, 120)], self.jobs.sent)
        self.jobs.results = [failed('PowerOn')]
        self.assertRaises(nova_exc.InstanceRebootFailure, power.reboot,
                          self.jobs.adpt, self.inst, hard=True)

    @mock.patch('nova_powervm.virt.powervm.vm.get_instance_wrapper')
    def test_reboot_refused_states(self, get):
        get.return_value = self.jobs.part('migrating running')
        err = self.assertRaises(nova_exc.InstanceRebootFailure, power.reboot,
                                self.jobs.adpt, self.inst, hard=True)
        self.assertIn('migrating running', str(err))
        self.assertEqual([], self.jobs.sent)

    @mock.patch('nova_powervm.virt.powervm.vm.get_instance_wrapper')
    def test_resume_on_host_boot(self, get):
        self.inst.vm_state = vm_states.ACTIVE
        self.inst.power_state = power_state.RUNNING
        get.return_value = self.jobs.part('not activated')
        self.assertTrue(power.resume_on_host_boot(self.jobs.adpt, self.inst))
        self.assertEqual([('PowerOn', {}, 120)], self.jobs.sent)

    @mock.patch('nova_powervm.virt.powervm.vm.get_instance_wrapper')
    def test_resume_on_host_boot_noop(self, get):
        self.inst.vm_state = vm_states.ACTIVE
        self.inst.power_state = power_state.RUNNING
        for state in ('running', 'suspended', 'migrating running'):
            get.return_value = self.jobs.part(state)
            self.assertFalse(power.resume_on_host_boot(self.jobs.adpt,
                                                       self.inst))
        # nova does not expect it running: not even read.
        get.reset_mock()
        get.return_value = self.jobs.part('not activated')
        for vm_state, pstate in ((vm_states.STOPPED, power_state.SHUTDOWN),
                                 (vm_states.ACTIVE, power_state.SHUTDOWN),
                                 (vm_states.SUSPENDED,
                                  power_state.SUSPENDED)):
            self.inst.vm_state = vm_state
            self.inst.power_state = pstate
            self.assertFalse(power.resume_on_host_boot(self.jobs.adpt,
                                                       self.inst))
        self.assertFalse(get.called)
        self.assertEqual([], self.jobs.sent)

    def test_check_deletable(self):
        for state in ('running', 'error', 'not activated', 'open firmware'):
            power.check_deletable(self.jobs.part(state), self.inst)
        for state in ('suspended', 'migrating running', 'not available'):
            err = self.assertRaises(nova_exc.InstanceTerminationFailure,
                                    power.check_deletable,
                                    self.jobs.part(state), self.inst)
            self.assertIn(state, str(err))

    def test_check_snapshot_state(self):
        adpt = mock.Mock()
        for state in ('running', 'not activated', 'suspended', 'error'):
            adpt.read.return_value = mock.Mock(body='"%s"' % state)
            power.check_snapshot_state(adpt, self.inst)
        adpt.read.assert_called_with(
            'LogicalPartition', root_id=PVM_UUID, suffix_type='quick',
            suffix_parm='PartitionState')
        for state in ('migrating running', 'not available', 'Unknown'):
            adpt.read.return_value = mock.Mock(body='"%s"' % state)
            err = self.assertRaises(nova_exc.InstanceNotRunning,
                                    power.check_snapshot_state, adpt,
                                    self.inst)
            self.assertIn(self.inst.uuid, str(err))
        adpt.read.side_effect = test_vm.http_error(404)
        err = self.assertRaises(nova_exc.InstanceNotFound,
                                power.check_snapshot_state, adpt, self.inst)
        self.assertIn(self.inst.uuid, str(err))
        adpt.read.side_effect = test_vm.http_error(500)
        err = self.assertRaises(exc.PowerVMTaskFailed,
                                power.check_snapshot_state, adpt, self.inst)
        self.assertIn('read_partition_state', str(err))
