"""Start-up: NovaLink only, VIOS wait, scrub (what goes to pypowervm)."""
import gc
from unittest import mock
import weakref

import fixtures
from nova import test
from pypowervm import exceptions as pvm_exc
from taskflow.patterns import linear_flow as tf_lf
from taskflow import task as tf_task

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import startup
from nova_powervm.virt.powervm.tasks import base as tf_base


def _adapter(mc_type='PVM'):
    adapter = mock.Mock()
    adapter.session.mc_type = mc_type
    return adapter


class TestPrepareHost(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(group='powervm', host='nl.example.com', port=12443,
                   protocol='https', vios_active_wait_timeout=42)
        self.calls = []
        for name, target in (
                ('validate_vios_ready', startup.pvm_par),
                ('ComprehensiveScrub', startup.pvm_stor),
                ('get_host_wrapper', startup.pvm_session)):
            patcher = mock.patch.object(target, name)
            mocked = patcher.start()
            self.addCleanup(patcher.stop)
            mocked.side_effect = self._recorder(name, mocked)
            setattr(self, name, mocked)
        self.get_host_wrapper.return_value.uuid = 'host-uuid'

    def _recorder(self, name, mocked):
        def record(*args, **kwargs):
            self.calls.append(name)
            return mock.DEFAULT
        return record

    def test_order_and_arguments(self):
        adapter = _adapter()
        host_w = startup.prepare_host(adapter)
        self.assertEqual(self.get_host_wrapper.return_value, host_w)
        self.assertEqual(['validate_vios_ready', 'get_host_wrapper',
                          'ComprehensiveScrub'], self.calls)
        # The configured wait goes to pypowervm (not its own 120/600 s).
        self.validate_vios_ready.assert_called_once_with(
            adapter, max_wait_time=42)
        # The scrub is limited to this host's VIOSes and is run.
        self.ComprehensiveScrub.assert_called_once_with(
            adapter, host_uuid='host-uuid')
        self.ComprehensiveScrub.return_value.execute.assert_called_once_with()

    def test_hmc_refused_before_any_request(self):
        err = self.assertRaises(exc.NotNovaLink, startup.prepare_host,
                                _adapter('HMC'))
        self.assertIn('nl.example.com:12443', str(err))
        self.assertIn('management console type HMC', str(err))
        self.assertIn('HMC is not supported', str(err))
        self.assertEqual([], self.calls)

    def test_no_active_vios_is_a_nova_error_naming_the_timeout(self):
        self.validate_vios_ready.side_effect = pvm_exc.ViosNotAvailable(
            wait_time=42)
        err = self.assertRaises(exc.NoActiveVios, startup.prepare_host,
                                _adapter())
        self.assertIn('vios_active_wait_timeout = 42 seconds', str(err))
        # Nothing is scrubbed on a host whose VIOSes are down.
        self.ComprehensiveScrub.assert_not_called()
        self.get_host_wrapper.assert_not_called()

    def test_zero_timeout_checks_once(self):
        self.flags(group='powervm', vios_active_wait_timeout=0)
        adapter = _adapter()
        startup.prepare_host(adapter)
        self.validate_vios_ready.assert_called_once_with(
            adapter, max_wait_time=0)

    def test_scrub_failure_is_logged_not_fatal(self):
        self.ComprehensiveScrub.return_value.execute.side_effect = (
            pvm_exc.Error('VIOS busy'))
        with self.assertLogs('nova_powervm', level='WARNING') as logs:
            host_w = startup.prepare_host(_adapter())
        self.assertEqual(self.get_host_wrapper.return_value, host_w)
        self.assertIn('VIOS busy', '\n'.join(logs.output))


class TestWarnConf(test.NoDBTestCase):

    def test_warns_when_live_migration_waits_for_vif_plug(self):
        self.flags(live_migration_wait_for_vif_plug=True, group='compute')
        self.flags(vif_plugging_timeout=300)
        with mock.patch.object(startup.LOG, 'warning') as warn:
            self.assertTrue(startup.warn_conf())
        self.assertIn('live_migration_wait_for_vif_plug', warn.call_args[0][0])
        self.assertEqual(300, warn.call_args[0][1])

    def test_quiet_when_off_or_no_events(self):
        for wait, timeout in ((False, 300), (True, 0)):
            self.flags(live_migration_wait_for_vif_plug=wait, group='compute')
            self.flags(vif_plugging_timeout=timeout)
            with mock.patch.object(startup.LOG, 'warning') as warn:
                self.assertFalse(startup.warn_conf())
            warn.assert_not_called()


class _Holds(tf_task.Task):
    def __init__(self, thing):
        super().__init__('holds')
        self.thing = thing

    def execute(self):
        return self.thing


class _Big(object):
    pass


class TestFreezeGc(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatchObject(startup, '_frozen', False))
        self.freeze = self.useFixture(fixtures.MockPatchObject(
            startup.gc, 'freeze')).mock
        self.collect = self.useFixture(fixtures.MockPatchObject(
            startup.gc, 'collect')).mock

    def test_once_per_process_after_a_collection(self):
        order = []
        self.collect.side_effect = lambda: order.append('collect')
        self.freeze.side_effect = lambda: order.append('freeze')
        self.assertTrue(startup.freeze_gc())
        self.assertFalse(startup.freeze_gc())
        self.assertEqual(['collect', 'freeze'], order)

    def test_collect_and_freeze_under_the_lock(self):
        # Two drivers' init_host at once: the check and the freeze are one
        # step, so only one of them freezes.
        held = []
        self.collect.side_effect = lambda: held.append(
            startup._FREEZE_LOCK.locked())
        self.freeze.side_effect = lambda: held.append(
            startup._FREEZE_LOCK.locked())
        self.assertTrue(startup.freeze_gc())
        self.assertEqual([True, True], held)
        self.assertFalse(startup._FREEZE_LOCK.locked())

    def test_option_off(self):
        self.flags(group='powervm', gc_freeze=False)
        self.assertFalse(startup.freeze_gc())
        self.freeze.assert_not_called()
        self.collect.assert_not_called()


class TestFlowCycles(test.NoDBTestCase):

    def _run_alive(self, nested):
        """(Task data alive after the run, after a collection)."""
        big = _Big()
        alive = weakref.ref(big)
        flow = tf_lf.Flow('f')
        if nested:   # a flow tasks/linear.py leaves to TaskFlow's engine
            flow.add(tf_lf.Flow('inner').add(_Holds(big)))
        else:
            flow.add(_Holds(big))
        gc.disable()
        self.addCleanup(gc.enable)
        tf_base.run(flow)
        del big, flow
        before = alive() is not None
        gc.collect()
        return before, alive() is not None

    def test_why_a_finished_flow_needs_the_cyclic_gc(self):
        # What a flow's task holds (here: what a FeedTask holds, the VIOS
        # wrappers) outlives a flow the TaskFlow engine ran until the
        # cyclic GC runs: the engine is a reference cycle.
        self.assertEqual((True, False), self._run_alive(nested=True))
        # A flow run without the engine (tasks/linear.py) leaves no cycle.
        self.assertEqual((False, False), self._run_alive(nested=False))
