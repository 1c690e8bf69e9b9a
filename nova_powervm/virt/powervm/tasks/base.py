"""The driver's TaskFlow tasks' base class; running their flows.

A failure inside a flow is re-raised as a nova exception whose message
names the failed step and its cause, so nova's instance fault says what
failed (after every completed task has been reverted).
"""
import threading

from nova import exception as nova_exc
from oslo_log import log as logging
from oslo_utils import uuidutils
from taskflow.engines.action_engine import engine as tf_engine
from taskflow import exceptions as tf_exc
from taskflow.persistence import base as tf_persist
from taskflow.persistence import models as tf_models
from taskflow import storage as tf_storage
from taskflow import task as tf_task
from taskflow.types import failure as task_fail

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import linear
from nova_powervm.virt.powervm import tf_args

LOG = logging.getLogger(__name__)


class _Connection(tf_persist.Connection):
    """Persists nothing: a flow's state lives only in its engine's storage.

    The flows are never resumed, so the default in-memory backend's work
    per state change (a new connection that re-creates its paths, a
    locked path-based copy of the atom detail) is CPU spent for nothing.
    """

    def __init__(self, backend):
        self._backend = backend

    @property
    def backend(self):
        return self._backend

    def close(self):
        pass

    def upgrade(self):
        pass

    def clear_all(self):
        pass

    def validate(self):
        pass

    def update_atom_details(self, atom_detail):
        return atom_detail

    def update_flow_details(self, flow_detail, ignore_missing=False):
        return flow_detail

    def save_logbook(self, book):
        return book

    def destroy_logbook(self, book_uuid):
        pass

    def _none(self, *args, **kwargs):
        raise tf_exc.NotFound('Nothing is persisted.')

    get_logbook = get_logbooks = get_flows_for_book = _none
    get_flow_details = get_atom_details = get_atoms_for_flow = _none


class _Backend(tf_persist.Backend):
    def __init__(self):
        super().__init__({})
        self._connection = _Connection(self)

    def get_connection(self):
        return self._connection

    def close(self):
        pass


_BACKEND = _Backend()


class _Lock(object):
    """One re-entrant lock for TaskFlow storage's readers and writers."""

    __slots__ = ('_lock',)

    def __init__(self):
        self._lock = threading.RLock()

    def read_lock(self):
        return self._lock

    write_lock = read_lock


class _Storage(tf_storage.Storage):
    """TaskFlow's storage of a flow one thread runs, persisting nothing.

    TaskFlow guards each storage access with a fasteners reader/writer
    lock (a dozen Python calls; about 200 accesses per spawn) and saves
    each change through tenacity retries meant for backends that fail.  A
    serial engine's storage is used by the thread running the flow (tasks
    and notifications run there), so one re-entrant lock is enough, and
    the saves go straight to the backend, which cannot fail.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = _Lock()

    def _with_connection(self, functor, *args, **kwargs):
        return functor(self._backend.get_connection(), *args, **kwargs)

    def _save_atom_detail(self, conn, original_atom_detail, atom_detail):
        original_atom_detail.update(conn.update_atom_details(atom_detail))
        return original_atom_detail

    def _save_flow_detail(self, conn, original_flow_detail, flow_detail):
        original_flow_detail.update(conn.update_flow_details(flow_detail))
        return original_flow_detail


class _Engine(tf_engine.SerialActionEngine):
    """TaskFlow's serial engine with :class:`_Storage`."""

    _lean_storage = None

    @property
    def storage(self):
        if self._lean_storage is None:
            self._lean_storage = _Storage(
                self._flow_detail, backend=self._backend,
                scope_fetcher=self._scopes)
        return self._lean_storage

    def _scopes(self, atom_name):
        # TaskFlow's own scope fetcher: none until compiled.
        if self._compiled:
            return self._runtime.fetch_scopes_for(atom_name)
        return None


class Task(tf_args.KeptArgMapping, tf_task.Task):
    """A TaskFlow task whose argument mapping is worked out once.

    (See :class:`tf_args.KeptArgMapping`.)
    """


_GONE = (nova_exc.InstanceNotFound, nova_exc.UnexpectedDeletingTaskStateError)


def may_have_changed(result):
    """Whether a task's REST change may have been made despite ``result``.

    A task's revert gets its own failure as ``result``: the change may still
    have been made when the server lost the answer (see
    :func:`exception.may_have_applied`); the revert must then look for it.
    """
    if not isinstance(result, task_fail.Failure):
        return True
    return exc.may_have_applied(result.exception)


def _cause_text(error):
    if isinstance(error, nova_exc.NovaException):
        return error.format_message()
    return str(error) or error.__class__.__name__


def _failed_step(engine, error):
    """(task name, causing exception) of the first failed task."""
    try:
        failures = engine.storage.get_execute_failures()
    except Exception:  # pragma: no cover - storage is always loaded here
        failures = {}
    for name, failure in failures.items():
        return name, failure.exception or error
    if isinstance(error, tf_exc.WrappedFailure):
        for failure in error:
            return '?', failure.exception
    return '?', error


def run(flow, instance=None, store=None, exc_class=exc.PowerVMTaskFailed):
    """Run ``flow`` in the calling thread; return the engine (or run).

    :param store: initial values for the flow's storage (e.g. 'lpar_wrap').
    :param exc_class: nova exception class (with ``task`` and ``reason``
        arguments) raised when a task fails.  A nova exception raised by a
        task keeps its type (nova treats some specially, e.g. InvalidInput
        aborts a build without rescheduling); its message gets the step.
    """
    # A linear flow of tasks runs without the engine (tasks/linear.py).
    engine = linear.plan(flow, store)
    if engine is None:
        detail = tf_models.FlowDetail(flow.name, uuidutils.generate_uuid())
        # What taskflow.engines.load(engine='serial') builds, without
        # looking the engine class up (stevedore) for each flow.  No engine
        # statistics (per-state timings nobody reads).
        engine = _Engine(flow, detail, _BACKEND,
                         {'gather_statistics': False})
        if store:
            engine.storage.inject(store)
    try:
        engine.run()
    except Exception as error:
        name, cause = _failed_step(engine, error)
        reason = _cause_text(cause)
        # An instance deleted meanwhile is no error of the driver's.
        log = LOG.warning if isinstance(cause, _GONE) else LOG.error
        log('Flow %(flow)s failed at step %(task)s: %(reason)s',
            {'flow': flow.name, 'task': name, 'reason': reason},
            instance=instance)
        wrapped = exc_class(task=name, reason=reason)
        if isinstance(cause, nova_exc.NovaException):
            try:
                wrapped = type(cause)(message=wrapped.format_message(),
                                      **cause.kwargs)
            except Exception:  # an exception class with its own __init__
                pass
        raise wrapped from cause
    return engine
