"""Unit tests for vm.py (pypowervm's REST layer mocked)."""
from unittest import mock

import fixtures
from nova.compute import power_state
from nova import context
from nova import exception as nova_exc
from nova import objects
from nova import test
from nova.tests.unit import fake_instance
from pypowervm import exceptions as pvm_exc
from pypowervm.tests.test_utils import pvmhttp
from pypowervm import traits as pvm_traits
from pypowervm.wrappers import base_partition as pvm_bp
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import managed_system as pvm_ms

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import vm

INST_UUID = '9ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11'
PVM_UUID = '1BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'


def host_wrapper():
    resp = pvmhttp.load_pvm_resp('fake_managedsystem.txt').get_response()
    return pvm_ms.System.wrap(resp)[0]


def pvm_adapter(test_case):
    """A mocked Adapter with NovaLink (local PVM) traits."""
    sess = mock.Mock(use_file_auth=True, mc_type='PVM')
    test_case.sess = sess  # traits keep only a weak reference
    return mock.Mock(traits=pvm_traits.APITraits(sess))


def http_error(status, body=''):
    resp = mock.Mock(status=status, reqmethod='GET', reqpath='/x', body=body)
    return pvm_exc.HttpError(resp)


def make_instance(extra_specs=None, vcpus=2, memory_mb=2048, **kw):
    flavor = objects.Flavor(name='m1.test', vcpus=vcpus, memory_mb=memory_mb,
                            root_gb=10, ephemeral_gb=0, swap=0,
                            extra_specs=extra_specs or {})
    ctx = context.RequestContext('user', 'project')
    sysmeta = kw.pop('system_metadata', {})
    inst = fake_instance.fake_instance_obj(
        ctx, uuid=INST_UUID, flavor=flavor, display_name='vm1', **kw)
    inst.system_metadata = sysmeta
    return inst


class TestUuids(test.NoDBTestCase):

    def test_power_state_map(self):
        self.assertEqual(power_state.RUNNING, vm.power_state_of('running'))
        self.assertEqual(power_state.SHUTDOWN,
                         vm.power_state_of('not activated'))
        self.assertEqual(power_state.CRASHED, vm.power_state_of('error'))
        self.assertEqual(power_state.SUSPENDED,
                         vm.power_state_of('suspended'))
        self.assertEqual(power_state.NOSTATE, vm.power_state_of('Unknown'))
        self.assertEqual(power_state.NOSTATE, vm.power_state_of(None))


class TestBuildLpar(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = pvm_adapter(self)
        self.host = host_wrapper()

    def build(self, specs=None, **kw):
        return vm.build_lpar(self.adpt, self.host, make_instance(specs, **kw))

    def assertBad(self, specs, key, *allowed_words, **kw):
        err = self.assertRaises(exc.InvalidFlavorExtraSpec, self.build,
                                specs, **kw)
        msg = str(err)
        self.assertIn(key, msg)
        for word in allowed_words:
            self.assertIn(word, msg)
        # nova aborts (does not reschedule) a build on InvalidInput.
        self.assertIsInstance(err, nova_exc.InvalidInput)
        self.assertIsInstance(err, nova_exc.InvalidParameterValue)
        self.assertEqual(0, self.adpt.read.call_count)
        return msg

    def test_defaults_shared_uncapped_with_factor(self):
        self.flags(group='powervm', proc_units_factor=0.2,
                   uncapped_proc_weight=100)
        lpar = self.build()
        self.assertEqual(PVM_UUID, lpar.uuid)
        self.assertEqual('instance-00000001', lpar.name)
        self.assertEqual(pvm_bp.LPARType.AIXLINUX, lpar.env)
        self.assertEqual(2048, lpar.mem_config.desired)
        self.assertEqual(2048, lpar.mem_config.min)
        self.assertEqual(2048, lpar.mem_config.max)
        proc = lpar.proc_config
        self.assertFalse(proc.has_dedicated)
        self.assertEqual(2, proc.shared_proc_cfg.desired_virtual)
        self.assertEqual(0.4, proc.shared_proc_cfg.desired_units)
        self.assertEqual('uncapped', proc.sharing_mode)
        self.assertEqual(100, proc.shared_proc_cfg.uncapped_weight)
        # Building costs no REST call.
        self.assertEqual(0, self.adpt.read.call_count)

    def test_shared_specs(self):
        lpar = self.build({
            'powervm:proc_units': '0.5', 'powervm:min_proc_units': '0.2',
            'powervm:max_proc_units': '1.5', 'powervm:min_vcpu': '1',
            'powervm:max_vcpu': '4', 'powervm:min_mem': '1024',
            'powervm:max_mem': '4096', 'powervm:uncapped': 'true',
            'powervm:shared_weight': '77',
            'powervm:availability_priority': '200',
            'powervm:processor_compatibility': 'POWER6+',
            'powervm:enable_lpar_metric': 'true',
            'powervm:srr_capability': 'false',
            'powervm:secure_boot': '0',
            'powervm:enforce_affinity_check': 'false',
            'powervm:shared_proc_pool_name': 'DefaultPool'})
        proc = lpar.proc_config.shared_proc_cfg
        self.assertEqual(0.5, proc.desired_units)
        self.assertEqual(0.2, proc.min_units)
        self.assertEqual(1.5, proc.max_units)
        self.assertEqual(1, proc.min_virtual)
        self.assertEqual(4, proc.max_virtual)
        self.assertEqual(77, proc.uncapped_weight)
        self.assertEqual(0, proc.pool_id)
        self.assertEqual(1024, lpar.mem_config.min)
        self.assertEqual(4096, lpar.mem_config.max)
        self.assertEqual(200, lpar.avail_priority)
        self.assertEqual('POWER6_Plus', lpar.pending_proc_compat_mode)
        self.assertTrue(lpar.allow_perf_data_collection)

    VARIANTS = ({}, {'powervm:uncapped': 'false'},
                {'powervm:dedicated_proc': 'true', 'powervm:max_vcpu': '3'},
                {'powervm:srr_capability': 'false', 'powervm:min_mem': '1024',
                 'powervm:availability_priority': '200'})

    def other(self, n, specs=None, **kw):
        """Instance n (own UUID and name) with ``specs``."""
        inst = make_instance(specs, **kw)
        inst.uuid = '%08d-5e2c-4d18-a2e6-2d2b7f6d5a11' % n
        inst.id = n
        return inst

    def count_builds(self):
        """The list of pypowervm builds (LPARBuilder.build) from now on."""
        builds, build = [], vm.lpar_bldr.LPARBuilder.build

        def counted(bldr):
            builds.append(bldr)
            return build(bldr)
        self.useFixture(fixtures.MockPatchObject(
            vm.lpar_bldr.LPARBuilder, 'build', counted))
        return builds

    def test_built_again_as_a_copy_with_the_same_xml(self):
        fresh = mock.patch.object(vm, '_build_new',
                                  lambda adpt, host, bldr, attrs: bldr.build())
        built = self.count_builds()
        for n, specs in enumerate(self.VARIANTS):
            insts = [self.other(10 * n + i, specs) for i in range(3)]
            del built[:]
            got = [vm.build_lpar(self.adpt, self.host, i) for i in insts]
            # Built once, copied for the others (same attributes).
            self.assertEqual(1, len(built))
            with fresh:
                want = [vm.build_lpar(self.adpt, self.host, i) for i in insts]
            self.assertEqual([w.toxmlstring() for w in want],
                             [g.toxmlstring() for g in got])
            self.assertEqual([vm.ids.pvm_uuid(i) for i in insts],
                             [g.uuid for g in got])
            self.assertEqual(len(set(i.name for i in insts)),
                             len(set(g.name for g in got)))
        # Other memory: built.
        del built[:]
        vm.build_lpar(self.adpt, self.host, self.other(99, memory_mb=4096))
        self.assertEqual(1, len(built))

    def test_each_build_its_own_wrapper(self):
        one = vm.build_lpar(self.adpt, self.host, self.other(1))
        one.mem_config.desired = 4096
        one.name = 'changed'
        two = vm.build_lpar(self.adpt, self.host, self.other(2))
        two.proc_config.shared_proc_cfg.desired_virtual = 7
        three = vm.build_lpar(self.adpt, self.host, self.other(3))
        self.assertEqual(2048, three.mem_config.desired)
        self.assertEqual(2, three.proc_config.shared_proc_cfg.desired_virtual)
        self.assertEqual('instance-00000003', three.name)

    def test_built_for_one_host_wrapper_bounded(self):
        self.useFixture(fixtures.MockPatchObject(vm, '_BUILT_MAX', 2))
        built = self.count_builds()
        for mem in (1024, 2048, 3072, 1024, 3072):
            vm.build_lpar(self.adpt, self.host,
                          self.other(mem, memory_mb=mem))
        self.assertEqual(4, len(built))   # 1024 was dropped, 3072 kept
        self.assertEqual(2, len(vm._built['lpars']))
        # Another host wrapper (refreshed): built against it.
        vm.build_lpar(self.adpt, host_wrapper(), self.other(5))
        self.assertEqual(5, len(built))
        self.assertEqual(1, len(vm._built['lpars']))

    def test_name_the_builder_refuses_still_refused(self):
        attrs = vm.lpar_attrs(self.host, self.other(1))
        stdz = vm.lpar_bldr.DefaultStandardize(self.host)
        vm._build_new(self.adpt, self.host,
                      vm.lpar_bldr.LPARBuilder(self.adpt, attrs, stdz), attrs)
        attrs[vm.lpar_bldr.NAME] = 'x' * (vm.lpar_bldr.MAX_LPAR_NAME_LEN + 1)
        self.assertRaises(
            vm.lpar_bldr.LPARBuilderException, vm._build_new, self.adpt,
            self.host, vm.lpar_bldr.LPARBuilder(self.adpt, attrs, stdz),
            attrs)

    def test_capped(self):
        lpar = self.build({'powervm:uncapped': 'false'})
        self.assertEqual('capped', lpar.proc_config.sharing_mode)

    def test_dedicated(self):
        lpar = self.build({'powervm:dedicated_proc': 'true',
                           'powervm:dedicated_sharing_mode':
                               'keep_idle_procs',
                           'powervm:max_vcpu': '3'})
        self.assertTrue(lpar.proc_config.has_dedicated)
        self.assertEqual('keep idle procs', lpar.proc_config.sharing_mode)
        self.assertEqual(2, lpar.proc_config.dedicated_proc_cfg.desired)
        self.assertEqual(3, lpar.proc_config.dedicated_proc_cfg.max)

    def test_dedicated_sharing_mode_implies_dedicated(self):
        lpar = self.build({'powervm:dedicated_sharing_mode':
                           'share_idle_procs_always'})
        self.assertTrue(lpar.proc_config.has_dedicated)

    def test_ibmi_refused(self):
        # Was built as an OS400 partition with no load source or console
        # (it could not boot).
        err = self.assertRaises(exc.IBMiNotSupported, self.build,
                                system_metadata={'image_os_distro': 'IBMi'})
        self.assertIn('IBM i', str(err))
        self.assertIn(INST_UUID, str(err))
        # nova aborts the build (no reschedule).
        self.assertIsInstance(err, nova_exc.ImageUnacceptable)

    def test_ibmi_refused_from_image_properties(self):
        inst = make_instance()
        meta = objects.ImageMeta.from_dict(
            {'id': 'c0ffee00-0000-4000-8000-000000000001',
             'properties': {'os_distro': 'ibmi'}})
        err = self.assertRaises(exc.IBMiNotSupported, vm.refuse_ibmi, inst,
                                meta)
        self.assertIn('c0ffee00-0000-4000-8000-000000000001', str(err))
        meta = objects.ImageMeta.from_dict(
            {'id': 'c0ffee00-0000-4000-8000-000000000001',
             'properties': {'os_distro': 'rhel'}})
        vm.refuse_ibmi(inst, meta)
        vm.refuse_ibmi(inst)

    def test_shared_proc_pool_resolved(self):
        pool = mock.Mock(id=3)
        pool.name = 'pool3'
        with mock.patch('pypowervm.wrappers.shared_proc_pool.SharedProcPool'
                        '.get', return_value=[pool]) as get:
            lpar = self.build({'powervm:shared_proc_pool_name': 'pool3'})
        get.assert_called_once_with(self.adpt, parent=self.host)
        self.assertEqual(3, lpar.proc_config.shared_proc_cfg.pool_id)

    def test_shared_proc_pool_unknown(self):
        pool = mock.Mock(id=3)
        pool.name = 'pool3'
        with mock.patch('pypowervm.wrappers.shared_proc_pool.SharedProcPool'
                        '.get', return_value=[pool]):
            err = self.assertRaises(
                exc.InvalidFlavorExtraSpec, self.build,
                {'powervm:shared_proc_pool_name': 'nope'})
        self.assertIn('powervm:shared_proc_pool_name', str(err))
        self.assertIn('DefaultPool, pool3', str(err))

    def test_unknown_key_ignored(self):
        lpar = self.build({'powervm:no_such_thing': 'x', 'hw:cpu_policy': 'y'})
        # The same partition as without those keys.
        self.assertEqual(self.build().toxmlstring(), lpar.toxmlstring())

    def test_bad_bool(self):
        self.assertBad({'powervm:dedicated_proc': 'maybe'},
                       'powervm:dedicated_proc', 'true or false')
        self.assertBad({'powervm:uncapped': '2'}, 'powervm:uncapped',
                       'true or false')
        self.assertBad({'powervm:srr_capability': 'x'},
                       'powervm:srr_capability', 'true or false')
        self.assertBad({'powervm:enable_lpar_metric': 'x'},
                       'powervm:enable_lpar_metric', 'true or false')
        self.assertBad({'powervm:enforce_affinity_check': 'x'},
                       'powervm:enforce_affinity_check', 'true or false')

    def test_bad_numbers(self):
        self.assertBad({'powervm:proc_units': 'abc'}, 'powervm:proc_units',
                       'a number of at least 0.05')
        self.assertBad({'powervm:proc_units': '0.01'}, 'powervm:proc_units',
                       'a number of at least 0.05')
        self.assertBad({'powervm:shared_weight': '300'},
                       'powervm:shared_weight', 'an integer from 0 to 255')
        self.assertBad({'powervm:availability_priority': '-1'},
                       'powervm:availability_priority', 'from 0 to 255')
        self.assertBad({'powervm:min_vcpu': '0'}, 'powervm:min_vcpu',
                       'at least 1')
        self.assertBad({'powervm:secure_boot': '10'}, 'powervm:secure_boot',
                       'from 0 to 9')

    def test_proc_units_vs_vcpus(self):
        self.assertBad({'powervm:proc_units': '3'}, 'powervm:proc_units',
                       '0.10 to 2')
        self.assertBad({'powervm:proc_units': '0.5',
                        'powervm:min_proc_units': '0.6'},
                       'powervm:min_proc_units', 'at most 0.5')
        self.assertBad({'powervm:proc_units': '0.5',
                        'powervm:max_proc_units': '0.4'},
                       'powervm:max_proc_units', 'at least 0.5')

    def test_min_max_vs_flavor(self):
        self.assertBad({'powervm:min_vcpu': '3'}, 'powervm:min_vcpu',
                       '1 to 2')
        self.assertBad({'powervm:max_vcpu': '1'}, 'powervm:max_vcpu',
                       'at least 2')
        self.assertBad({'powervm:min_mem': '4096'}, 'powervm:min_mem',
                       '128 to 2048')
        self.assertBad({'powervm:max_mem': '1024'}, 'powervm:max_mem',
                       'at least 2048')
        self.assertBad({'powervm:max_mem': '4000'}, 'powervm:max_mem',
                       'a multiple of 256 MB')

    def test_choices(self):
        self.assertBad({'powervm:dedicated_sharing_mode': 'greedy'},
                       'powervm:dedicated_sharing_mode',
                       'keep_idle_procs, share_idle_procs, '
                       'share_idle_procs_active, share_idle_procs_always')
        self.assertBad({'powervm:processor_compatibility': 'POWER9'},
                       'powervm:processor_compatibility', 'POWER8',
                       'not supported by this host')
        self.assertBad({'powervm:ppt_ratio': '1:3'}, 'powervm:ppt_ratio',
                       '1:4096')

    def test_conflicts(self):
        for key in ('proc_units', 'uncapped', 'shared_weight',
                    'min_proc_units', 'max_proc_units',
                    'shared_proc_pool_name'):
            msg = self.assertBad({'powervm:dedicated_proc': 'true',
                                  'powervm:' + key: '1'},
                                 'powervm:' + key, 'shared processors')
            self.assertIn('conflicts', msg)
        self.assertBad({'powervm:dedicated_proc': 'false',
                        'powervm:dedicated_sharing_mode': 'keep_idle_procs'},
                       'powervm:dedicated_sharing_mode',
                       'only with dedicated processors')
        self.assertBad({'powervm:uncapped': 'false',
                        'powervm:shared_weight': '10'},
                       'powervm:shared_weight', 'only with uncapped')

    def test_host_capabilities(self):
        self.assertBad({'powervm:ppt_ratio': '1:1024'}, 'powervm:ppt_ratio',
                       'unsupported on this host')
        self.assertBad({'powervm:secure_boot': '1'}, 'powervm:secure_boot',
                       'unsupported on this host')
        self.assertBad({'powervm:srr_capability': 'true'},
                       'powervm:srr_capability', 'unsupported on this host')
        self.assertBad({'powervm:enforce_affinity_check': 'true'},
                       'powervm:enforce_affinity_check',
                       'unsupported on this host')

    def test_capable_host(self):
        with mock.patch.object(pvm_ms.System, 'get_capability',
                               return_value=True):
            lpar = self.build({'powervm:ppt_ratio': '1:1024',
                               'powervm:secure_boot': '2',
                               'powervm:srr_capability': 'true',
                               'powervm:enforce_affinity_check': 'true'})
        self.assertEqual(4, lpar.mem_config.ppt_ratio)
        self.assertEqual(2, lpar.pending_secure_boot)
        self.assertTrue(lpar.srr_enabled)

    def test_flavor_memory_not_multiple_of_lmb(self):
        err = self.assertRaises(exc.InvalidFlavorExtraSpec, self.build,
                                memory_mb=1000)
        self.assertIn('memory_mb=1000', str(err))
        self.assertIn('256 MB', str(err))


class TestRestOps(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = mock.Mock()
        self.inst = make_instance()

    @mock.patch.object(pvm_lpar.LPAR, 'get')
    def test_get_instance_wrapper(self, get):
        self.assertEqual(get.return_value,
                         vm.get_instance_wrapper(self.adpt, self.inst))
        get.assert_called_once_with(self.adpt, uuid=PVM_UUID, xag=None)
        get.side_effect = http_error(404)
        self.assertRaises(nova_exc.InstanceNotFound, vm.get_instance_wrapper,
                          self.adpt, self.inst)
        get.side_effect = http_error(500)
        self.assertRaises(pvm_exc.HttpError, vm.get_instance_wrapper,
                          self.adpt, self.inst)

    def test_create_uses_given_wrapper(self):
        lpar_w = mock.Mock()
        host = mock.Mock()
        ret = vm.create_lpar(self.adpt, host, self.inst, lpar_w=lpar_w)
        lpar_w.create.assert_called_once_with(parent=host)
        self.assertEqual(lpar_w.create.return_value, ret)

    @mock.patch('pypowervm.tasks.vterm.close_vterm')
    def test_delete_idempotent(self, close):
        vm.delete_lpar(self.adpt, self.inst)
        self.adpt.delete.assert_called_once_with('LogicalPartition',
                                                 root_id=PVM_UUID)
        self.adpt.delete.side_effect = http_error(404)
        vm.delete_lpar(self.adpt, self.inst)
        self.adpt.delete.side_effect = http_error(500)
        self.assertRaises(pvm_exc.HttpError, vm.delete_lpar, self.adpt,
                          self.inst)
        # No virtual terminal involved: never closed.
        self.assertFalse(close.called)

    @mock.patch('pypowervm.tasks.vterm.close_vterm')
    def test_delete_closes_open_vterm_and_retries(self, close):
        self.adpt.delete.side_effect = [
            http_error(409, 'HSCL151B Partition vm1 has an open virtual '
                       'terminal session'), None]
        vm.delete_lpar(self.adpt, self.inst)
        close.assert_called_once_with(self.adpt, PVM_UUID)
        self.assertEqual([mock.call('LogicalPartition', root_id=PVM_UUID)] * 2,
                         self.adpt.delete.call_args_list)

    @mock.patch('pypowervm.tasks.vterm.close_vterm')
    def test_delete_vterm_close_fails(self, close):
        self.adpt.delete.side_effect = http_error(409, 'HSCL151B vterm')
        close.side_effect = pvm_exc.JobRequestFailed(
            operation_name='CloseVterm', error='boom')
        self.assertRaises(pvm_exc.JobRequestFailed, vm.delete_lpar,
                          self.adpt, self.inst)
        self.adpt.delete.assert_called_once_with('LogicalPartition',
                                                 root_id=PVM_UUID)

    def test_get_info_one_quick_read(self):
        self.adpt.read.return_value = mock.Mock(body='"running"')
        info = vm.get_info(self.adpt, self.inst)
        self.assertEqual(power_state.RUNNING, info.state)
        self.adpt.read.assert_called_once_with(
            'LogicalPartition', root_id=PVM_UUID, suffix_type='quick',
            suffix_parm='PartitionState')
        self.adpt.read.side_effect = http_error(404)
        err = self.assertRaises(nova_exc.InstanceNotFound, vm.get_info,
                                self.adpt, self.inst)
        self.assertIn(INST_UUID, str(err))

    def test_get_vm_qp_all_properties(self):
        self.adpt.read.return_value = mock.Mock(
            body='{"PartitionState": "running", "PartitionID": 2}')
        self.assertEqual({'PartitionState': 'running', 'PartitionID': 2},
                         vm.get_vm_qp(self.adpt, PVM_UUID))
        self.adpt.read.assert_called_once_with(
            'LogicalPartition', root_id=PVM_UUID, suffix_type='quick',
            suffix_parm=None)
        self.adpt.read.side_effect = http_error(404)
        self.assertRaises(nova_exc.InstanceNotFound, vm.get_vm_qp,
                          self.adpt, PVM_UUID)
