"""Unit tests for job_templates.py, through a real pypowervm Adapter.

The session is faked; pypowervm's Adapter, PowerOp and vterm code run as
they are, which pins what the helper relies on: pypowervm reads a job's
template through the Adapter's helpers (``GET <partition>/do/<Op>``) and
parses every answer itself.  A pypowervm that stops doing so fails here.
"""
from unittest import mock

from nova import test
from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm.tasks import migration as pvm_mig
from pypowervm.tasks import power as pvm_pwr
from pypowervm.tasks import power_opts as pvm_popts
from pypowervm.tasks import vterm as pvm_vterm
from pypowervm.tests.test_utils import pvmhttp
from pypowervm import traits as pvm_traits
from pypowervm.wrappers import job as pvm_job

from nova_powervm.virt.powervm import job_templates

_BASE = '/rest/api/uom/LogicalPartition/'
UUID1 = '1BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'
UUID2 = '2BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A12'


class TestJobTemplateCache(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        tmpl = pvmhttp.load_pvm_resp(
            'job_request_power_off.txt').get_response()
        self.sess = mock.Mock(use_file_auth=False, mc_type='PVM')
        # A remote API: close_vterm runs the CloseVterm job.
        self.sess.traits = pvm_traits.APITraits(self.sess)

        def request(method, path, **kwargs):
            return pvm_adpt.Response(method, path, 200, 'OK', {},
                                     reqheaders=kwargs.get('headers'),
                                     body=tmpl.body)
        self.sess.request.side_effect = request
        self.adpt = pvm_adpt.Adapter(
            self.sess, helpers=[job_templates.cache_helper()])
        self.jobs = []

        def run_job(job_w, uuid, job_parms=None, **kwargs):
            # As the real one: the parameters go into the template.
            if job_parms:
                job_w.add_job_parameters_to_existing(*job_parms)
            self.jobs.append((job_w, uuid, job_parms))
        patcher = mock.patch.object(pvm_job.Job, 'run_job', new=run_job)
        patcher.start()
        self.addCleanup(patcher.stop)

    def part(self, uuid):
        part = mock.Mock(uuid=uuid, adapter=self.adpt,
                         schema_type='LogicalPartition', env='AIX/Linux',
                         rmc_state='inactive')
        part.name = 'p'
        return part

    def gets(self):
        return [c[0][1] for c in self.sess.request.call_args_list
                if c[0][0] == 'GET']

    def test_power_templates_read_once_per_operation(self):
        for uuid in (UUID1, UUID2, UUID1):
            pvm_pwr.PowerOp.stop(self.part(uuid),
                                 opts=pvm_popts.PowerOffOpts().vsp_hard())
        pvm_pwr.PowerOp.start(self.part(UUID2))
        pvm_pwr.PowerOp.start(self.part(UUID1))
        self.assertEqual([_BASE + UUID1 + '/do/PowerOff',
                          _BASE + UUID2 + '/do/PowerOn'], self.gets())
        # Each job ran on its own partition with its own parameters only.
        self.assertEqual([UUID1, UUID2, UUID1, UUID2, UUID1],
                         [uuid for _j, uuid, _p in self.jobs])
        self.assertEqual([2, 2, 2, 0, 0],
                         [len(parms) for _j, _u, parms in self.jobs])
        # Every job got its own template, fresh from the stored body: no
        # job carries another job's parameters.
        tag = '{%s}JobParameter' % pvm_const.WEB_NS
        self.assertEqual([2, 2, 2, 0, 0], [
            len(list(job_w.entry.element.element.iter(tag)))
            for job_w, _u, _p in self.jobs])

    def test_close_vterm_template_cached(self):
        for uuid in (UUID1, UUID2):
            pvm_vterm.close_vterm(self.adpt, uuid)
        self.assertEqual([_BASE + UUID1 + '/do/CloseVterm'], self.gets())

    def test_mobility_templates_cached(self):
        for uuid in (UUID1, UUID2):
            for validate in (True, False):
                pvm_mig.migrate_lpar(self.part(uuid), 'sys2',
                                     validate_only=validate,
                                     tgt_mgmt_svr='10.0.0.2')
        self.assertEqual([_BASE + UUID1 + '/do/MigrateValidate',
                          _BASE + UUID1 + '/do/Migrate'], self.gets())
        self.assertEqual([UUID1, UUID1, UUID2, UUID2],
                         [uuid for _j, uuid, _p in self.jobs])

    def test_other_reads_and_failures_pass_through(self):
        for _i in range(2):
            self.adpt.read('LogicalPartition', UUID1)
            self.adpt.read('VirtualIOServer', UUID1, suffix_type='do',
                           suffix_parm='LUARecovery')
        self.assertEqual(4, len(self.gets()))
        # A failed template read is not kept.
        self.sess.request.side_effect = [
            pvm_adpt.Response('GET', 'x', 503, 'busy', {}, body=''),
            pvm_adpt.Response('GET', 'x', 200, 'OK', {}, body='')]
        helper = job_templates.cache_helper()(self.sess.request)
        path = _BASE + UUID1 + '/do/PowerOn'
        self.assertEqual(503, helper('GET', path).status)
        self.assertEqual(200, helper('GET', path).status)

    def test_each_adapter_has_its_own_store(self):
        other = pvm_adpt.Adapter(self.sess,
                                 helpers=[job_templates.cache_helper()])
        pvm_pwr.PowerOp.start(self.part(UUID1))
        part = self.part(UUID1)
        part.adapter = other
        pvm_pwr.PowerOp.start(part)
        self.assertEqual(2, len(self.gets()))
