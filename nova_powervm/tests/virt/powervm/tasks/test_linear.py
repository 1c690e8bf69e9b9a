"""Unit tests for tasks/linear.py: flows run as TaskFlow's engine runs them."""
from unittest import mock

from nova import test
from taskflow import engines as tf_engines
from taskflow.patterns import linear_flow as tf_lf
from taskflow import retry as tf_retry
from taskflow import task
from taskflow.types import failure

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import linear


class _Step(task.Task):
    """Logs its calls and arguments; may fail to execute or to revert."""

    def __init__(self, name, log, error=None, revert_error=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.log = log
        self.error = error
        self.revert_error = revert_error

    def pre_execute(self):
        self.log.append(('pre', self.name))

    def post_revert(self):
        self.log.append(('post_revert', self.name))

    def execute(self, lpar_wrap=None, cnas=None):
        self.log.append(('do', self.name, lpar_wrap, cnas))
        if self.error:
            raise self.error
        return 'result of %s' % self.name

    def revert(self, result, flow_failures, lpar_wrap=None, **kwargs):
        if isinstance(result, failure.Failure):
            result = ('failed', type(result.exception))
        self.log.append(('undo', self.name, lpar_wrap, result,
                         {k: type(v.exception)
                          for k, v in flow_failures.items()}, kwargs))
        if self.revert_error:
            raise self.revert_error


def _flow(log, fail_at=None, revert_fail_at=None):
    """Four tasks passing results along; one may fail, one fail to revert."""
    def step(name, **kwargs):
        return _Step(name, log,
                     error=KeyError(name) if name == fail_at else None,
                     revert_error=(ValueError('undo ' + name)
                                   if name == revert_fail_at else None),
                     **kwargs)
    flow = tf_lf.Flow('f')
    flow.add(step('create', provides='lpar_wrap', rebind={'lpar_wrap': 'w'}),
             step('plug', requires=['lpar_wrap'], provides='vm_cnas'),
             step('disk', rebind={'cnas': 'vm_cnas'}),
             step('power', requires=['lpar_wrap']))
    return flow


def _run(flow, store=None, lean=True):
    """(log of the run, raised exception, execute failures, results)."""
    if lean:
        engine = linear.plan(flow, store)
        assert engine is not None
    else:
        engine = tf_engines.load(flow, store=store, engine='serial')
    error = None
    try:
        engine.run()
    except Exception as e:
        error = e
    fails = engine.storage.get_execute_failures()
    return (error, sorted(fails),
            {k: repr(v.exception) for k, v in fails.items()},
            engine.storage.fetch_all() if error is None else None)


class TestLikeTheEngine(test.NoDBTestCase):
    """Each case run by linear.plan and by TaskFlow's engine: the same."""

    def _compare(self, fail_at=None, revert_fail_at=None, store=None):
        logs, outcomes = [], []
        for lean in (True, False):
            log = []
            outcomes.append(_run(_flow(log, fail_at, revert_fail_at),
                                 dict(store or {'w': 'W'}), lean))
            logs.append(log)
        self.assertEqual(logs[1], logs[0])
        self.assertEqual(outcomes[1][1:], outcomes[0][1:])
        # The same exception raised (TaskFlow re-raises the task's own).
        self.assertEqual(type(outcomes[1][0]), type(outcomes[0][0]))
        self.assertEqual(str(outcomes[1][0]), str(outcomes[0][0]))
        return logs[0], outcomes[0]

    def test_success(self):
        log, (error, _f, _e, values) = self._compare()
        self.assertIsNone(error)
        self.assertEqual({'w': 'W', 'lpar_wrap': 'result of create',
                          'vm_cnas': 'result of plug'}, values)
        self.assertIn(('do', 'disk', 'result of create', 'result of plug'),
                      log)

    def test_each_failure(self):
        for name in ('create', 'plug', 'disk', 'power'):
            log, (error, failed, _e, _v) = self._compare(fail_at=name)
            self.assertIsInstance(error, KeyError)
            self.assertEqual([name], failed)
            self.assertEqual(('failed', KeyError),
                             [e for e in log if e[0] == 'undo'][0][3])

    def test_revert_failures(self):
        for fail_at, revert_fail_at in (('power', 'plug'), ('disk', 'disk'),
                                        ('power', 'create')):
            log, (error, failed, _e, _v) = self._compare(
                fail_at=fail_at, revert_fail_at=revert_fail_at)
            self.assertIsInstance(error, ValueError)
            self.assertEqual([fail_at], failed)
            self.assertEqual(('undo', revert_fail_at), log[-2][:2])

    def test_optional_left_out(self):
        # Nothing provides 'lpar_wrap' or 'cnas' here.
        for lean in (True, False):
            log = []
            flow = tf_lf.Flow('f')
            flow.add(_Step('disk', log))
            self.assertIsNone(_run(flow, {}, lean)[0])
            self.assertEqual([('pre', 'disk'), ('do', 'disk', None, None)],
                             log)


class TestPlan(test.NoDBTestCase):
    """Flows planned, and those left to TaskFlow's engine."""

    def test_engine_kept_for(self):
        log = []
        nested = tf_lf.Flow('outer').add(tf_lf.Flow('inner').add(
            _Step('a', log)))
        retried = tf_lf.Flow('r', retry=tf_retry.Times(2)).add(
            _Step('a', log))
        cases = {
            'nested': (nested, None),
            'retry': (retried, None),
            'inject': (tf_lf.Flow('f').add(
                _Step('a', log, inject={'lpar_wrap': 1})), None),
            'result split': (tf_lf.Flow('f').add(
                _Step('a', log, provides=['x', 'y'])), None),
            'provided twice': (tf_lf.Flow('f').add(
                _Step('a', log, provides='x'),
                _Step('b', log, provides='x')), None),
            'stored and provided': (tf_lf.Flow('f').add(
                _Step('a', log, provides='x')), {'x': 1}),
            'provided later': (tf_lf.Flow('f').add(
                _Step('a', log, requires=['lpar_wrap']),
                _Step('b', log, provides='lpar_wrap')), None),
            'optional provided later': (tf_lf.Flow('f').add(
                _Step('a', log),
                _Step('b', log, provides='lpar_wrap')), None),
            'own result': (tf_lf.Flow('f').add(
                _Step('a', log, provides='lpar_wrap')), None),
            # (TaskFlow checks the argument's name, not the rebound one.)
            'optional rebound': (tf_lf.Flow('f').add(
                _Step('a', log, rebind={'cnas': 'vm_cnas'})), None),
            'missing': (tf_lf.Flow('f').add(
                _Step('a', log, requires=['lpar_wrap'])), None),
            'not a linear flow': (mock.Mock(), None),
        }
        for case, (flow, store) in cases.items():
            self.assertIsNone(linear.plan(flow, store), case)
        self.assertEqual([], log)

    def test_driver_shapes_planned(self):
        self.assertIsNotNone(linear.plan(_flow([]), {'w': 1}))
        self.assertIsNotNone(linear.plan(tf_lf.Flow('empty')))

    def test_run_uses_plan(self):
        log = []
        with mock.patch.object(tf_base, '_Engine') as engine:
            run = tf_base.run(_flow(log), store={'w': 'W'})
        engine.assert_not_called()
        self.assertIsInstance(run, linear.Run)
        self.assertEqual('SUCCESS', run.storage.get_flow_state())
        self.assertEqual('result of plug', run.storage.fetch_all()['vm_cnas'])

    def test_run_names_failed_step(self):
        # A revert's failure is raised; the step named is the one that
        # failed to execute, the cause its error (as with the engine).
        for lean in (True, False):
            log = []
            with mock.patch.object(linear, 'plan',
                                   side_effect=linear.plan if lean else
                                   lambda *a: None):
                err = self.assertRaises(
                    exc.SpawnTaskFailed, tf_base.run,
                    _flow(log, 'power', 'plug'), store={'w': 'W'},
                    exc_class=exc.SpawnTaskFailed)
            self.assertIn('step power failed', str(err))
            self.assertIsInstance(err.__cause__, KeyError)

    def test_missing_input_refused_before_any_task(self):
        log = []
        flow = tf_lf.Flow('f').add(_Step('a', log),
                                   _Step('b', log, requires=['lpar_wrap']))
        self.assertRaises(exc.PowerVMTaskFailed, tf_base.run, flow)
        self.assertEqual([], log)
