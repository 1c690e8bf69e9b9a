"""The VIOS feed of a flow, its changes group committed (``batch.py``).

:class:`FeedTask` is pypowervm's FeedTask over the active Virtual I/O
Servers whose per-VIOS subtasks are each one :func:`batch.update` change:
the mapping changes of concurrent flows on a VIOS share one POST.  Built
from the VIOSes this process kept (``reuse``) it reads nothing; when a
concurrent flow took those it is lazy: each VIOS's changes start from the
slot's latest answer.
"""
import threading
import time
import weakref

from oslo_log import log as logging
from pypowervm.tasks import partition as pvm_par
from pypowervm.utils import transaction as pvm_tx
from pypowervm.wrappers import virtual_io_server as pvm_vios
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm import pvm_private
from nova_powervm.virt.powervm import tf_args

LOG = logging.getLogger(__name__)

# adapter -> {xag tuple: [UUIDs of the active VIOSes the last feed read had]}
_FEEDS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class _WrapperTask(tf_args.KeptArgMapping, pvm_tx.WrapperTask):
    """pypowervm's WrapperTask, its TaskFlow argument mapping kept."""


class FeedTask(tf_args.KeptArgMapping, pvm_tx.FeedTask):
    """pypowervm FeedTask whose per-VIOS changes are group committed.

    Same interface and results (``wrapper_task_rets``, post-execute tasks);
    each VIOS's subtasks are one change of :func:`batch.update`, so the mapping
    changes of concurrent flows on a VIOS share a POST.

    :param xag: the extended attribute groups of the feed's wrappers.
    """

    def __init__(self, name, feed, xag):
        super().__init__(name, feed)
        self.xag = sorted(xag or [])
        self.post_execs = []
        # {VIOS UUID: wrapper its committed change returned}.
        self._updated = {}
        # UUIDs of the VIOSes whose change failed: their feed wrapper (handed
        # to update()) may hold the failed try's changes.
        self._spoiled = set()
        # {VIOS UUID: wrapper read again for a kept one (execute)}.
        self._fresh = {}
        # {VIOS UUID: getter} of a lazy FeedTask (:meth:`build`), else None.
        self._lazy = None

    @property
    def feed(self):
        """The wrappers, as this FeedTask's commits left them: read only.

        (Other flows may share them: a lazy FeedTask's answers, kept
        wrappers.)  No request, but after a failed commit a new read of
        that VIOS, and (lazy) one feed GET when a VIOS got no committed
        change.
        """
        if self._lazy is not None:
            return self._lazy_feed()
        for uuid in list(self._spoiled):
            wrapper = self.wrapper_tasks[uuid].wrapper
            self._updated[uuid] = pvm_private.read_again(type(
                wrapper).getter(wrapper.adapter, uuid, xag=self.xag))
            self._spoiled.discard(uuid)
        return [self._updated.get(w.uuid, w) for w in super().feed]

    def _lazy_feed(self):
        """Committed answers; VIOSes without one: one feed GET."""
        missing = [u for u in self._lazy if u not in self._updated]
        if missing:
            getter = self._lazy[missing[0]]
            start = time.monotonic()
            for wrapper in pvm_vios.VIOS.get(getter.adapter, xag=self.xag):
                if wrapper.uuid in missing:
                    self._updated[wrapper.uuid] = batch.stamp(wrapper, start)
        return [self._updated[u] for u in self._lazy if u in self._updated]

    @classmethod
    def build(cls, adapter, xag, reuse=False):
        """One over the active VIOSes (pypowervm's feed read: one GET).

        :param reuse: no GET when the slots keep a wrapper of each VIOS the
            last feed read had (:meth:`release`, :func:`batch.give_back`):
            those are taken, and a VIOS that gets changes is refreshed first
            (a conditional GET).  When another flow took them (concurrent
            flows), none either: a lazy FeedTask, whose changes of a VIOS
            start from the slot's latest answer or join a batch that has a
            base (:func:`batch.update`, ``reuse``; else a GET of that VIOS).
            Only for flows that decide nothing from the feed's content
            before their changes run.
        :raises NotEnoughActiveVioses: none is active.
        """
        xag_t = tuple(sorted(xag or []))
        if reuse:
            with _LOCK:
                uuids = _FEEDS.get(adapter, {}).get(xag_t, ())
            feed = batch.take_kept(
                adapter, [batch.vios_key(u, xag_t) for u in uuids])
            if feed:
                return cls('vio_feed_task', feed, xag)
            if feed is not None:
                return cls._build_lazy(adapter, uuids, xag)
        start = time.monotonic()
        # pypowervm's build_active_vio_feed_task reads this and builds a
        # FeedTask (TaskFlow argument mappings, a WrapperTask) only to be
        # thrown away here.
        feed = pvm_par.get_active_vioses(adapter, xag=xag, find_min=1)
        with _LOCK:
            _FEEDS.setdefault(adapter, {})[xag_t] = [w.uuid for w in feed]
        return cls('vio_feed_task', [batch.stamp(w, start) for w in feed],
                   xag)

    @classmethod
    def _build_lazy(cls, adapter, uuids, xag):
        """Over ``uuids``, reading nothing: WrapperTasks from getters."""
        ftsk = cls('vio_feed_task', pvm_vios.VIOS.getter(adapter, xag=xag),
                   xag)
        ftsk._lazy = {u: pvm_vios.VIOS.getter(adapter, entry_uuid=u, xag=xag)
                      for u in uuids}
        pvm_private.preset_wrapper_tasks(ftsk, {
            u: _WrapperTask('%s_%s' % (ftsk.name, u), getter,
                            allow_empty=True)
            for u, getter in ftsk._lazy.items()})
        return ftsk

    def release(self):
        """The flow is done with the feed: the slots keep its wrappers.

        Call only when nothing holds a wrapper of :attr:`feed` (or a part of
        one) any more; a later ``reuse`` build or change starts from them.
        """
        if self._lazy is not None:
            for uuid in self._lazy:
                if uuid in self._updated and uuid not in self._spoiled:
                    wrapper = self._updated[uuid]
                    batch.give_back(wrapper.adapter,
                                    batch.vios_key(uuid, self.xag), wrapper)
            return
        for wrapper in super().feed:
            if wrapper.uuid in self._spoiled:
                continue
            wrapper = self._updated.get(wrapper.uuid, wrapper)
            batch.give_back(wrapper.adapter,
                            batch.vios_key(wrapper.uuid, self.xag), wrapper)

    def add_post_execute(self, *tasks):
        super().add_post_execute(*tasks)
        self.post_execs.extend(tasks)

    def execute(self):
        # The feed was read at build time: wrapper_tasks makes no request.
        wtasks = [(u, wt) for u, wt in self.wrapper_tasks.items()
                  if wt.subtasks]
        if not wtasks and not self.post_execs:
            LOG.debug('FeedTask %s has no subtasks.', self.name)
            return None
        if self._lazy is not None:
            # Every VIOS (no POST without changes): feed needs no request.
            wtasks = list(self.wrapper_tasks.items())
        self._read_kept_again(wtasks)
        rets = {'wrapper_task_rets': {}}
        if len(wtasks) == 1:
            rets['wrapper_task_rets'] = dict([self._commit_one(wtasks[0])])
        elif wtasks:
            with pvm_tx.ContextThreadPoolExecutor(len(wtasks)) as pool:
                rets['wrapper_task_rets'] = dict(
                    pool.map(self._commit_one, wtasks))
        if self.post_execs:
            flow = tf_lf.Flow('%s_post_execs' % self.name)
            flow.add(*self.post_execs)
            eng = tf_eng.load(flow, store=rets)
            eng.run()
            rets = eng.storage.fetch_all()
        return rets

    def _read_kept_again(self, wtasks):
        """One feed GET rather than a conditional GET per kept VIOS.

        (When more than one VIOS built from kept wrappers gets changes.)
        """
        if self._lazy is not None:
            return
        kept = [wt.wrapper for _u, wt in wtasks
                if batch.is_kept(wt.wrapper)]
        if len(kept) < 2:
            return
        start = time.monotonic()
        fresh = {w.uuid: w for w in type(kept[0]).get(kept[0].adapter,
                                                      xag=self.xag)}
        for wrapper in kept:
            if wrapper.uuid in fresh:
                self._fresh[wrapper.uuid] = batch.stamp(
                    fresh[wrapper.uuid], start)

    def _commit_one(self, uuid_wtask):
        """Run one VIOS's subtasks as a group-committed change."""
        uuid, wtask = uuid_wtask
        provided = {}

        def apply(wrapper):
            changed, got = pvm_private.run_subtasks(wtask.subtasks, wrapper)
            provided.clear()
            provided.update(got)
            return changed

        if self._lazy is not None:
            # No wrapper of its own: from the slot's (reuse), which keeps
            # the answer for the next lazy flow; the flow only reads it
            # (:attr:`feed`): shared, not copied.
            mine, getter = None, self._lazy[uuid]
            kwargs = {'reuse': True, 'answer': batch.SHARE}
        else:
            mine = self._fresh.get(uuid, wtask.wrapper)
            getter = type(mine).getter(mine.adapter, uuid, xag=self.xag)
            # The feed was read for this FeedTask: handed over, not copied;
            # the answer is lent (release gives it back).
            kwargs = {'owned': True, 'answer': batch.LEND}
        try:
            wrapper, _changed = batch.update(
                batch.vios_key(uuid, self.xag), getter, apply, wrapper=mine,
                name=wtask.name, **kwargs)
        except Exception:
            if mine is not None:
                self._spoiled.add(uuid)
            raise
        self._updated[uuid] = wrapper
        return uuid, dict(provided, wrapper=wrapper)
