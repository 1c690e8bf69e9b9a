"""Unit tests for tasks/base.py (flow runner) and tasks/vm.py."""
from unittest import mock

from nova import exception as nova_exc
from nova import test
from oslo_utils import reflection
from pypowervm import exceptions as pvm_exc
from taskflow.engines.action_engine import engine as tf_engine
from taskflow import exceptions as tf_exc
from taskflow.patterns import linear_flow as tf_lf
from taskflow import storage as tf_storage
from taskflow import task
from taskflow.types import failure

from nova_powervm.tests.virt.powervm import test_vm
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import linear
from nova_powervm.virt.powervm.tasks import vm as tf_vm


class _Step(task.Task):
    def __init__(self, name, log, error=None):
        super().__init__(name=name)
        self.log = log
        self.error = error

    def execute(self):
        self.log.append('do ' + self.name)
        if self.error:
            raise self.error

    def revert(self, result, flow_failures, **kwargs):
        self.log.append('undo ' + self.name)


def _failure(error):
    try:
        raise error
    except Exception:
        return failure.Failure()


class TestMayHaveChanged(test.NoDBTestCase):
    """Which failures leave a change possibly made (answer lost)."""

    def test_ambiguous(self):
        for error in (pvm_exc.ConnectionError('dropped'),
                      pvm_exc.TimeoutError('timed out'),
                      test_vm.http_error(500), test_vm.http_error(503),
                      ValueError('unknown')):
            self.assertTrue(tf_base.may_have_changed(_failure(error)),
                            error)
        self.assertTrue(tf_base.may_have_changed('a result'))

    def test_refused(self):
        for error in (test_vm.http_error(400), test_vm.http_error(404),
                      test_vm.http_error(412),
                      nova_exc.InvalidInput(reason='bad')):
            self.assertFalse(tf_base.may_have_changed(_failure(error)),
                             error)

    def test_cause_followed(self):
        # A nova exception raised from a lost answer: ambiguous.
        try:
            try:
                raise pvm_exc.ConnectionError('dropped')
            except pvm_exc.Error as e:
                raise exc.ConfigDriveFailed(instance='i', reason='x') from e
        except Exception:
            fail = failure.Failure()
        self.assertTrue(tf_base.may_have_changed(fail))
        try:
            try:
                raise test_vm.http_error(400)
            except pvm_exc.Error as e:
                raise nova_exc.NovaException('wrapped') from e
        except Exception:
            fail = failure.Failure()
        self.assertFalse(tf_base.may_have_changed(fail))


def _wants_class(base):
    """A task class taking inputs, optional ones and revert arguments."""
    class Wants(base):
        def __init__(self, **kwargs):
            super().__init__(name='wants', **kwargs)

        def execute(self, lpar_wrap, vm_cnas=None):
            return lpar_wrap

        def revert(self, lpar_wrap, result, flow_failures, vm_cnas=None):
            pass
    return Wants


class TestTaskArgMapping(test.NoDBTestCase):
    """tf_base.Task: TaskFlow's argument mapping, worked out once."""

    VARIANTS = ({}, {'rebind': {'lpar_wrap': 'lpar'}}, {'rebind': ['w']},
                {'provides': 'x', 'inject': {'vm_cnas': 1}},
                {'requires': ['lpar_wrap'], 'revert_rebind': {
                    'lpar_wrap': 'old'}})

    @staticmethod
    def _mapping(atom):
        return (atom.rebind, atom.requires, atom.optional, atom.revert_rebind,
                atom.revert_optional, atom.provides)

    def test_same_mapping_as_taskflow(self):
        ours, plain = _wants_class(tf_base.Task), _wants_class(task.Task)
        for kwargs in self.VARIANTS:
            want = self._mapping(plain(**kwargs))
            for _ in range(2):   # worked out, then kept
                self.assertEqual(want, self._mapping(ours(**kwargs)))

    def test_signatures_read_once(self):
        ours = _wants_class(tf_base.Task)
        with mock.patch('taskflow.atom.reflection.get_callable_args',
                        wraps=reflection.get_callable_args) as args:
            ours(provides='a')
            self.assertGreater(args.call_count, 0)
            args.reset_mock()
            ours(provides='b')
            args.assert_not_called()
            ours(rebind={'lpar_wrap': 'c'})   # other arguments: worked out
            self.assertGreater(args.call_count, 0)

    def test_each_task_its_own_mapping(self):
        ours = _wants_class(tf_base.Task)
        one, two = ours(), ours()
        one.rebind['lpar_wrap'] = 'changed'
        self.assertEqual('lpar_wrap', two.rebind['lpar_wrap'])
        self.assertEqual('lpar_wrap', ours().rebind['lpar_wrap'])

    def test_wrong_arguments_still_refused(self):
        ours = _wants_class(tf_base.Task)
        for _ in range(2):
            self.assertRaises(ValueError, ours, requires=['not_an_arg'])


class TestRun(test.NoDBTestCase):

    def test_success_returns_engine(self):
        log = []
        flow = tf_lf.Flow('f')
        flow.add(_Step('a', log), _Step('b', log))
        eng = tf_base.run(flow)
        self.assertEqual(['do a', 'do b'], log)
        self.assertIsNotNone(eng)

    def test_failure_reverts_and_names_step(self):
        log = []
        flow = tf_lf.Flow('f')
        flow.add(_Step('a', log), _Step('b', log, ValueError('disk full')),
                 _Step('c', log))
        err = self.assertRaises(exc.SpawnTaskFailed, tf_base.run, flow,
                                exc_class=exc.SpawnTaskFailed)
        self.assertEqual(['do a', 'do b', 'undo b', 'undo a'], log)
        self.assertEqual('Failed to deploy instance: step b failed: disk '
                         'full', str(err))
        self.assertIsInstance(err, nova_exc.InstanceDeployFailure)
        self.assertIsInstance(err.__cause__, ValueError)

    def test_nova_exception_keeps_type(self):
        flow = tf_lf.Flow('f')
        flow.add(_Step('img', [], nova_exc.ImageUnacceptable(
            image_id='i1', reason='bad format')))
        err = self.assertRaises(nova_exc.ImageUnacceptable, tf_base.run,
                                flow, exc_class=exc.SpawnTaskFailed)
        self.assertIn('step img failed', str(err))
        self.assertIn('bad format', str(err))

    @mock.patch.object(tf_base, 'LOG')
    def test_instance_gone_is_no_error(self, log):
        # Deleted meanwhile (e.g. a snapshot stopped by destroy): a warning.
        for error in (nova_exc.InstanceNotFound(instance_id='i'),
                      nova_exc.UnexpectedDeletingTaskStateError(
                          instance_uuid='i', expected='a', actual='b')):
            flow = tf_lf.Flow('f')
            flow.add(_Step('a', [], error))
            self.assertRaises(type(error), tf_base.run, flow)
        self.assertEqual(2, log.warning.call_count)
        log.error.assert_not_called()
        flow = tf_lf.Flow('f')
        flow.add(_Step('a', [], ValueError('x')))
        self.assertRaises(exc.PowerVMTaskFailed, tf_base.run, flow)
        log.error.assert_called_once()

    @mock.patch.object(linear, 'plan', return_value=None)
    def test_nothing_persisted_results_kept(self, plan):
        # (A flow linear.plan leaves to the engine.)  The engine's storage
        # persists through the no-op backend (the default in-memory one
        # copied every state change), and still holds the results and
        # states the callers read (slot map: 'vm_cnas').
        class Give(task.Task):
            def execute(self):
                return ['cna']

        flow = tf_lf.Flow('f')
        flow.add(Give(provides='vm_cnas'))
        eng = tf_base.run(flow)
        self.assertIs(tf_base._BACKEND, eng.storage.backend)
        self.assertEqual({'vm_cnas': ['cna']}, eng.storage.fetch_all())
        self.assertEqual('SUCCESS', eng.storage.get_flow_state())
        conn = tf_base._BACKEND.get_connection()
        detail = mock.sentinel.detail
        self.assertIs(detail, conn.update_atom_details(detail))
        self.assertIs(detail, conn.update_flow_details(detail))
        self.assertRaises(tf_exc.NotFound, conn.get_logbooks)

    @mock.patch.object(linear, 'plan', return_value=None)
    def test_lean_engine(self, plan):
        # TaskFlow's serial engine; its storage with one re-entrant lock and
        # saves without tenacity retries (the backend cannot fail; a
        # failure is not retried with waits).
        log = []
        flow = tf_lf.Flow('f')
        flow.add(_Step('a', log), _Step('b', log, ValueError('x')))
        with mock.patch.object(tf_base, '_Engine',
                               side_effect=tf_base._Engine) as cls:
            self.assertRaises(exc.PowerVMTaskFailed, tf_base.run, flow)
        args = cls.call_args[0]
        self.assertIs(tf_base._BACKEND, args[2])
        self.assertEqual({'gather_statistics': False}, args[3])
        self.assertEqual(['do a', 'do b', 'undo b', 'undo a'], log)
        eng = tf_base.run(tf_lf.Flow('g').add(_Step('c', log)))
        self.assertIsInstance(eng, tf_engine.SerialActionEngine)
        self.assertIsInstance(eng.storage, tf_storage.Storage)
        self.assertIs(eng.storage, eng.storage)
        lock = eng.storage._lock
        with lock.read_lock(), lock.write_lock():   # re-entrant
            self.assertEqual('SUCCESS', eng.storage.get_flow_state())
        with mock.patch.object(
                tf_base._Connection, 'update_atom_details',
                side_effect=tf_exc.StorageFailure('no')) as update:
            self.assertRaises(tf_exc.StorageFailure,
                              eng.storage.set_atom_state, 'c', 'PENDING')
        update.assert_called_once()

    def test_store(self):
        seen = []

        class Need(task.Task):
            def execute(self, lpar_wrap):
                seen.append(lpar_wrap)

        flow = tf_lf.Flow('f')
        flow.add(Need())
        tf_base.run(flow, store={'lpar_wrap': 'W'})
        self.assertEqual(['W'], seen)


class TestVmTasks(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = mock.Mock()
        self.inst = mock.Mock()
        patcher = mock.patch.object(tf_vm, 'vm')
        self.vm = patcher.start()
        self.addCleanup(patcher.stop)
        patcher = mock.patch.object(tf_vm, 'power')
        self.power = patcher.start()
        self.addCleanup(patcher.stop)

    def test_get(self):
        tsk = tf_vm.Get(self.adpt, self.inst)
        self.assertEqual(['lpar_wrap'], list(tsk.provides))
        self.assertEqual(self.vm.get_instance_wrapper.return_value,
                         tsk.execute())

    def test_create_and_revert(self):
        host, lpar_w = mock.Mock(), mock.Mock()
        tsk = tf_vm.Create(self.adpt, host, self.inst, lpar_w=lpar_w)
        self.assertEqual(self.vm.create_lpar.return_value, tsk.execute())
        self.vm.create_lpar.assert_called_once_with(
            self.adpt, host, self.inst, lpar_w=lpar_w)
        tsk.revert('created', {})
        self.vm.delete_lpar.assert_called_once_with(self.adpt, self.inst)

    def test_create_revert_after_ambiguous_create(self):
        # The PUT's answer was lost: the partition may exist.  Deleted by
        # the instance (its UUID is derived from the instance's).
        for error in (pvm_exc.ConnectionError('dropped'),
                      pvm_exc.TimeoutError('read timed out'),
                      test_vm.http_error(500)):
            self.vm.delete_lpar.reset_mock()
            tsk = tf_vm.Create(self.adpt, mock.Mock(), self.inst)
            tsk.revert(_failure(error), {})
            self.vm.delete_lpar.assert_called_once_with(self.adpt, self.inst)

    def test_create_revert_after_refused_create(self):
        # The server refused it (4xx) or bad input: nothing to delete.
        for error in (test_vm.http_error(400), test_vm.http_error(409),
                      exc.InvalidFlavorExtraSpec(key='k', value='v',
                                                 reason='r', allowed='a')):
            tsk = tf_vm.Create(self.adpt, mock.Mock(), self.inst)
            tsk.revert(_failure(error), {})
        self.vm.delete_lpar.assert_not_called()

    def test_power_on_uses_flow_wrapper_and_reverts_hard(self):
        tsk = tf_vm.PowerOn(self.adpt, self.inst)
        self.assertIn('lpar_wrap', tsk.optional)
        tsk.execute(lpar_wrap='W')
        self.power.power_on.assert_called_once_with(self.adpt, self.inst,
                                                    lpar_w='W', opts=None)
        tsk.revert(None, {})
        self.power.power_off.assert_called_once_with(self.adpt, self.inst,
                                                  force_immediate=True)

    def test_power_off(self):
        tsk = tf_vm.PowerOff(self.adpt, self.inst, force_immediate=True)
        tsk.execute(lpar_wrap='W')
        self.power.power_off.assert_called_once_with(
            self.adpt, self.inst, force_immediate=True, lpar_w='W')
        # Destroy's power off is not undone.
        tsk.revert(True, {})
        self.power.power_on.assert_not_called()

    def test_power_off_restores_only_what_it_stopped(self):
        tsk = tf_vm.PowerOff(self.adpt, self.inst, restore_on_revert=True,
                             revert_opts='sms')
        tsk.revert(False, {})
        self.power.power_on.assert_not_called()
        tsk.revert(True, {})
        self.power.power_on.assert_called_once_with(self.adpt, self.inst,
                                                    opts='sms')

    def test_delete(self):
        tf_vm.Delete(self.adpt, self.inst).execute()
        self.vm.delete_lpar.assert_called_once_with(self.adpt, self.inst)
