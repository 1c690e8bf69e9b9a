"""A linear flow of tasks run in the calling thread without TaskFlow's engine.

TaskFlow's serial engine compiles each flow into graphs, validates it,
records every state change in its storage and steps each task through a
state machine: about 4-5 ms of CPU for a 6-task flow, most of a spawn's
TaskFlow cost, spent again for every flow.  The driver's flows are linear
flows of tasks without retries; :func:`plan` takes such a flow when every
argument of every task's ``execute`` and ``revert`` comes from the initial
store or from an earlier task's result (else it returns None and the flow
goes to the engine, which validates and runs it as always).

:meth:`Run.run` does what the engine does with such a flow: the tasks in
order (``pre_execute``, ``execute``, ``post_execute``) with the same
arguments; on a failure the failed task and then the completed ones in
reverse order are reverted (``pre_revert``, ``revert``, ``post_revert``)
with ``result`` (the task's result, or the failure) and ``flow_failures``;
a revert's failure stops the reverting.  It raises what the engine raises
(the revert's failure if there is one, else the task's) and keeps the
results and failures the callers read (``storage``).  The unit tests run
flows both ways and compare.
"""
from taskflow.patterns import linear_flow as tf_lf
from taskflow import states as tf_states
from taskflow import task as tf_task
from taskflow.types import failure as tf_failure


class Storage(object):
    """What a run left: the part of an engine's storage callers read."""

    def __init__(self, values):
        self.values = values
        self.execute_failures = {}
        self.state = tf_states.PENDING

    def fetch_all(self):
        """{name: value} of the initial store and the tasks' results."""
        return dict(self.values)

    def get_execute_failures(self):
        """{task name: Failure} of the task whose ``execute`` failed."""
        return dict(self.execute_failures)

    def get_flow_state(self):
        return self.state


class Run(object):
    """A flow's tasks, each with where its arguments come from."""

    def __init__(self, steps, store):
        # [(task, execute's [(argument, name)], revert's [(argument, name)])]
        self.steps = steps
        self.storage = Storage(dict(store or {}))

    def run(self):
        """Run the tasks; on a failure revert and raise (as the engine)."""
        values = self.storage.values
        done = []   # (task, revert's arguments, result)
        self.storage.state = tf_states.RUNNING
        for task, args, revert_args in self.steps:
            fail = None
            try:
                task.pre_execute()
                result = task.execute(**{arg: values[name]
                                         for arg, name in args})
            except Exception:
                fail = tf_failure.Failure()
            finally:
                task.post_execute()
            if fail is not None:
                self.storage.execute_failures[task.name] = fail
                done.append((task, revert_args, fail))
                self._revert(done, {task.name: fail})
                self.storage.state = tf_states.REVERTED
                fail.reraise()
            for name in task.save_as:
                values[name] = result
            done.append((task, revert_args, result))
        self.storage.state = tf_states.SUCCESS

    def _revert(self, done, failures):
        values = self.storage.values
        for task, args, result in reversed(done):
            kwargs = {arg: values[name] for arg, name in args}
            kwargs['result'] = result
            kwargs['flow_failures'] = dict(failures)
            fail = None
            try:
                task.pre_revert()
                task.revert(**kwargs)
            except Exception:
                fail = tf_failure.Failure()
            finally:
                task.post_revert()
            if fail is not None:
                self.storage.state = tf_states.FAILURE
                fail.reraise()


def _sources(rebind, optional, index, store, providers):
    """[(argument, name)] of one method, or None: not for this runner.

    A name comes from the store or an earlier task; an optional argument
    whose name nothing provides is left out (as the engine does).
    """
    sources = []
    for arg, name in rebind.items():
        if name in store or providers.get(name, index) < index:
            sources.append((arg, name))
        elif name not in providers and arg in optional:
            continue
        else:
            return None
    return sources


def plan(flow, store=None):
    """A :class:`Run` of ``flow``, or None: for TaskFlow's engine.

    Taken: a linear flow without retry of uniquely named tasks with no
    injected arguments, each result saved whole under names nothing else
    provides, whose arguments all come from the store or earlier tasks.
    """
    if type(flow) is not tf_lf.Flow or flow.retry is not None:
        return None
    store = store or {}
    tasks = list(flow)
    providers = {}
    for index, task in enumerate(tasks):
        if not isinstance(task, tf_task.Task) or task.inject:
            return None
        for name, part in task.save_as.items():
            if part is not None or name in store or name in providers:
                return None
            providers[name] = index
    if len({task.name for task in tasks}) != len(tasks):
        return None
    steps = []
    for index, task in enumerate(tasks):
        args = _sources(task.rebind, task.optional, index, store, providers)
        revert_args = _sources(task.revert_rebind, task.revert_optional,
                               index, store, providers)
        if args is None or revert_args is None:
            return None
        steps.append((task, args, revert_args))
    return Run(steps, store)
