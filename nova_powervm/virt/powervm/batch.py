"""Group commit: concurrent changes to one PowerVM REST object, one POST.

Spawns running at once all change the same volume group (a disk each) and
the same Virtual I/O Servers (a mapping each).  Those objects carry etags
and pypowervm changes each one under a per-object lock, so n spawns cost n
read-modify-POST round trips in a row, and a change made to a wrapper read
before someone else's POST is rejected (412) and redone.

:func:`update` queues a change to an object; whichever caller gets the
object's turn applies every change queued by then to one wrapper and POSTs
once (a pypowervm WrapperTask: on 412 it re-reads and re-applies them all).
The base is the wrapper a queued caller read (:func:`read`), unless this
process POSTed the object since: then, for changes that waited for that
POST, (a copy of) the wrapper the POST returned (the server's answer, as
current as a GET would be; should something else have changed the object
meanwhile, the etag check rejects it and pypowervm re-reads), else a GET.
When the combined change fails, each change is retried alone on a fresh
read, so one bad change fails only its own caller.

:class:`FeedTask` is pypowervm's FeedTask with each VIOS's subtasks
committed this way.
"""
import copy
import threading
import time
import weakref

from oslo_log import log as logging
from pypowervm.tasks import partition as pvm_par
from pypowervm.utils import transaction as pvm_tx
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

LOG = logging.getLogger(__name__)


class _Change(object):
    def __init__(self, func, wrapper):
        self.func = func
        self.wrapper = wrapper   # the caller's (recent) wrapper, or None
        self.queued_at = time.monotonic()
        self.done = False
        self.result = None
        self.error = None


class _Slot(object):
    def __init__(self):
        self.turn = threading.Lock()
        self.queue = []
        # when this process's last POST of the object completed
        self.posted_at = None
        # the wrapper that POST returned (None after a failure)
        self.last = None


# A change to an object POSTed less than _BUSY_S ago waits _LINGER_S for
# more changes to join it.
_BUSY_S = 1.0
_LINGER_S = 0.01

# adapter -> {key: _Slot}
_SLOTS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


_READ_AT = '_nova_powervm_read_at'


def read(getter):
    """GET a wrapper, noting when, for :func:`update`."""
    start = time.monotonic()
    return stamp(getter.get(), start)


def stamp(wrapper, read_at):
    """Note that ``wrapper`` was read from ``read_at`` (monotonic)."""
    setattr(wrapper, _READ_AT, read_at)
    return wrapper


def _older(wrapper, posted_at):
    read_at = getattr(wrapper, _READ_AT, None)
    return (posted_at is not None and read_at is not None and
            read_at < posted_at)


def _commit(name, base, changes):
    """Apply ``changes`` to ``base`` (wrapper or getter) and POST once."""
    wtask = pvm_tx.WrapperTask(name, base)
    for change in changes:
        def run(wrapper, change=change):
            change.result = change.func(wrapper)
            return change.result
        wtask.add_functor_subtask(run)
    wrapper, _provided = wtask.execute()
    return wrapper


def update(key, getter, func, wrapper=None, name='batched_update'):
    """Apply ``func(wrapper)`` to an object, POSTing it if ``func`` says so.

    :param key: identifies the object and the view of it (e.g. its UUID and
        the extended attribute groups of ``getter``).
    :param getter: pypowervm EntryWrapperGetter of the object.
    :param func: called with the object's wrapper; modifies it and returns
        a true value when it must be POSTed.  May be called more than once
        (on a re-read wrapper after an etag mismatch).
    :param wrapper: a current wrapper of the object the caller has, used
        when no wrapper from an earlier change is kept.
    :return: (the object's wrapper after the change, ``func``'s return).
    :raises: what ``func`` or the POST raised for this change.
    """
    change = _Change(func, wrapper)
    with _LOCK:
        slots = _SLOTS.setdefault(getter.adapter, {})
        slot = slots.setdefault(key, _Slot())
        slot.queue.append(change)
    with slot.turn:
        if not change.done:
            if (slot.posted_at is not None and
                    time.monotonic() - slot.posted_at < _BUSY_S):
                # The object is busy: changes released by the same earlier
                # batch (e.g. the disks of concurrent spawns) arrive within
                # milliseconds; take them along.
                time.sleep(_LINGER_S)
            with _LOCK:
                batch, slot.queue = slot.queue, []
            _run_batch(name, slot, getter, batch)
    if change.error is not None:
        raise change.error
    return change.wrapper, change.result


def _base(slot, getter, batch):
    """The wrapper (or getter) a batch starts from."""
    wrappers = [c.wrapper for c in batch if c.wrapper is not None and
                not _older(c.wrapper, slot.posted_at)]
    if wrappers:
        return wrappers[-1]
    # A caller's wrapper read before this process's last POST of the object
    # would only earn a 412.  That POST's answer is newer: use it when it is
    # recent, for changes that waited for it or hold such a wrapper (not for
    # callers that passed none: they may know of a change made elsewhere).
    if (slot.last is not None and
            time.monotonic() - slot.posted_at < _BUSY_S and
            any(c.queued_at < slot.posted_at or c.wrapper is not None
                for c in batch)):
        return slot.last
    return getter


def _run_batch(name, slot, getter, batch):
    """Commit ``batch`` together; on failure, each change alone."""
    base = _base(slot, getter, batch)
    if len(batch) > 1:
        LOG.debug('%(name)s: %(n)d changes in one update.',
                  {'name': name, 'n': len(batch)})
    try:
        try:
            result = _commit(name, base, batch)
            slot.posted_at = time.monotonic()
            # A copy of its own: the callers get (and may change) result.
            slot.last = _copy(result)
            for change in batch:
                change.wrapper = result
        except Exception as e:
            slot.posted_at = time.monotonic()
            slot.last = None
            if len(batch) == 1:
                batch[0].error = e
                return
            # Find the failing change(s): each alone on a fresh read.
            for change in batch:
                try:
                    change.wrapper = _commit(name, getter, [change])
                except Exception as e1:
                    change.error = e1
    finally:
        for change in batch:
            change.done = True


def _copy(wrapper):
    """A deep copy of a pypowervm EntryWrapper (same etag)."""
    return type(wrapper).wrap(copy.deepcopy(wrapper.entry),
                              etag=wrapper.etag)


class FeedTask(pvm_tx.FeedTask):
    """pypowervm FeedTask whose per-VIOS changes are group committed.

    Same interface and results (``wrapper_task_rets``, post-execute tasks);
    each VIOS's subtasks are one change of :func:`update`, so the mapping
    changes of concurrent flows on a VIOS share a POST.

    :param xag: the extended attribute groups of the feed's wrappers.
    """

    def __init__(self, name, feed, xag):
        super().__init__(name, feed)
        self.xag = sorted(xag or [])

    @classmethod
    def build(cls, adapter, xag):
        """One over the active VIOSes (pypowervm's feed read: one GET).

        :raises NotEnoughActiveVioses: none is active.
        """
        start = time.monotonic()
        ftsk = pvm_par.build_active_vio_feed_task(adapter, xag=xag)
        return cls(ftsk.name, [stamp(w, start) for w in ftsk.feed], xag)

    def execute(self):
        if not any([self._tx_by_uuid, self._common_tx.subtasks,
                    self._post_exec]):
            LOG.debug('FeedTask %s has no subtasks.', self.name)
            return None
        rets = {'wrapper_task_rets': {}}
        if self._tx_by_uuid or self._common_tx.subtasks:
            wtasks = [wt for wt in self.wrapper_tasks.values() if wt.subtasks]
            if len(wtasks) == 1:
                results = [self._commit_one(wtasks[0])]
            else:
                with pvm_tx.ContextThreadPoolExecutor(len(wtasks)) as pool:
                    results = list(pool.map(self._commit_one, wtasks))
            rets['wrapper_task_rets'] = dict(results)
        if self._post_exec:
            flow = tf_lf.Flow('%s_post_execs' % self.name)
            flow.add(*self._post_exec)
            eng = tf_eng.load(flow, store=rets)
            eng.run()
            rets = eng.storage.fetch_all()
        return rets

    def _commit_one(self, wtask):
        """Run one VIOS's subtasks as a group-committed change."""
        def apply(wrapper):
            provided = {}
            changed = False
            for subtask in wtask.subtasks:
                kwargs = dict(subtask.save_kwargs)
                if subtask_takes_provided(subtask):
                    kwargs['provided'] = provided
                ret = subtask.execute(wrapper, *subtask.save_args, **kwargs)
                if subtask.flag_update and ret:
                    changed = True
                if subtask.provides is not None:
                    provided[subtask.provides] = ret
            wtask.provided.clear()
            wtask.provided.update(provided)
            return changed

        uuid = wtask.wrapper.uuid
        getter = type(wtask.wrapper).getter(wtask.wrapper.adapter, uuid,
                                            xag=self.xag)
        wrapper, _changed = update(
            (wtask.wrapper.schema_type, uuid, tuple(self.xag)), getter,
            apply, wrapper=wtask.wrapper, name=wtask.name)
        return uuid, dict(wtask.provided, wrapper=wrapper)


def subtask_takes_provided(subtask):
    """Whether a pypowervm Subtask's execute accepts ``provided``."""
    from oslo_utils import reflection
    return ('provided' in reflection.get_callable_args(subtask.execute) or
            reflection.accepts_kwargs(subtask.execute))
