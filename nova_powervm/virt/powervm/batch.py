"""Group commit: concurrent changes to one PowerVM REST object, one POST.

Spawns running at once all change the same volume group (a disk each) and
the same Virtual I/O Servers (a mapping each).  Those objects carry etags
and pypowervm changes each one under a per-object lock, so n spawns cost n
read-modify-POST round trips in a row, and a change made to a wrapper read
before someone else's POST is rejected (412) and redone.

:func:`update` queues a change to an object; whichever caller gets the
object's turn applies every change queued by then to one wrapper and POSTs
once (a pypowervm WrapperTask: on 412 it re-reads and re-applies them all).
The base is (a copy of) the wrapper a queued caller read (:func:`read`),
unless this process POSTed the object since: then, for changes that waited
for that POST, the wrapper the POST returned (the server's answer, as
current as a GET would be; should something else have changed the object
meanwhile, the etag check rejects it and pypowervm re-reads), else a GET.
A caller's wrapper is never changed unless the caller hands it over
(``owned``: a FeedTask's own feed read), and each caller of a batch gets its
own copy of the answer (the slot keeps the answer itself for a later batch:
a caller may go on changing its copy without POSTing): no flow sees (or
changes) another flow's wrapper.  A VIOS with 500 SCSI mappings costs about
30-36 ms of CPU per copy (lxml 6.1, as much as a parse): a lone owned change
of a lender (LEND, below) makes none, and callers that only read the answer
share it (SHARE): one copy per batch (the next batch's base) instead of one
per caller.

Retries: a change function must be idempotent.  Applied to a wrapper that
already holds its change (an earlier POST made it and the answer was
lost), it changes nothing and returns a false value (a new disk or mapping
is looked up first).  When a POST fails, each of its changes is retried
alone on a fresh read, so one bad change fails only its own caller and a
change a lost answer made is found, not made twice; a lone change is
retried (once) only when its POST may have been made (a 5xx, a dropped
connection, a timeout).  A retried POST still carries the etag of its
fresh read, so a POST the server is still working on cannot be duplicated.

At most :data:`MAX_COPIES_PER_POST` heavy changes share one POST
(:data:`MAX_FAST_COPIES_PER_POST` while the object's POSTs with such
changes are fast).

Kept wrappers (``reuse``): the slot keeps the last answer (or a wrapper a
caller gave back, :func:`give_back`) for up to :data:`_REUSE_S`; a change
that allows it (``reuse=True``, or a FeedTask built from kept wrappers)
starts from it after a conditional GET (pypowervm ``refresh``: 304 and no
body when the etag is unchanged, else the new wrapper): as current as a
GET, without reading and parsing the object again (a VIOS with 500 SCSI
mappings: 2.2 MB).  A caller that lends (LEND) gets the answer itself when
no other change waits for it (no copy; the slot keeps nothing unless the
caller gives it back).

``vios_feed.FeedTask`` is pypowervm's FeedTask with each VIOS's subtasks
committed this way.
"""
import copy
import threading
import time
import weakref

from oslo_log import log as logging
from pypowervm import entities as pvm_ent
from pypowervm.utils import transaction as pvm_tx
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import pvm_private
from nova_powervm.virt.powervm import tf_args
from nova_powervm.virt.powervm import vios_post

LOG = logging.getLogger(__name__)

# Heavy changes (a new virtual disk the server copies from a cached image)
# one POST carries at most.  The POST lasts as long as all its copies, and
# when it fails or outlives [powervm] rest_timeout every spawn it carries
# is delayed or fails with it: four keep most of the gain of grouping while
# one lost POST concerns at most four spawns.
MAX_COPIES_PER_POST = 4
# ... unless the object's last POST with copies took at most FAST_COPY_S
# seconds per copy (the server clones rather than copies, e.g. the QCOW
# files of a file-backed volume group): then up to MAX_FAST_COPIES_PER_POST
# (about 1.6 s at that pace).  32 concurrent spawns make 2-3 volume
# group POSTs in a row instead of 8, each also a serialization and a parse
# of the whole volume group.
MAX_FAST_COPIES_PER_POST = 16
FAST_COPY_S = 0.1


# What a caller of update() gets back: a copy of the answer, the answer
# itself when no other change waits (LEND), the answer itself shared with
# the slot and other sharers, to read only (SHARE), or nothing (None).
COPY = 'copy'
LEND = 'lend'
SHARE = 'share'


class _Change(object):
    def __init__(self, func, wrapper, heavy, owned=False, answer=COPY,
                 reuse=False):
        self.func = func
        self.wrapper = wrapper   # the caller's (recent) wrapper, or None
        self.owned = owned       # handed over: may be changed
        self.heavy = heavy
        self.answer = answer
        self.reuse = reuse       # may start from a kept answer
        self.queued_at = time.monotonic()
        self.done = False
        self.raised = False      # func raised: no POST was made for it
        self.result = None
        self.error = None


class _Slot(object):
    def __init__(self):
        self.turn = threading.Lock()
        self.queue = []
        # when this process's last POST of the object completed
        self.posted_at = None
        # the wrapper that POST returned (or one given back), the slot's
        # own (None after a failure, once a batch took it as its base or
        # lent it), and when it was current
        self.last = None
        self.last_at = None
        # seconds per heavy change of the last POST that carried some
        self.copy_s = None


# A change to an object POSTed less than _BUSY_S ago waits _LINGER_S for
# more changes to join it.
_BUSY_S = 1.0
_LINGER_S = 0.01

# How long a kept answer may be the base of a ``reuse`` change.  Older, a
# GET is likely to be needed anyway (the etag check would refuse it).
_REUSE_S = 60.0

# adapter -> {key: _Slot}
_SLOTS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


_READ_AT = '_nova_powervm_read_at'
# Set on a wrapper the slot keeps: refreshed (conditional GET) before use.
_KEPT = '_nova_powervm_kept'
# Set on an answer handed out to SHARE callers: copied before a batch
# changes it.
_SHARED = '_nova_powervm_shared'


def read(getter):
    """GET a wrapper, noting when, for :func:`update`."""
    start = time.monotonic()
    return stamp(getter.get(), start)


def stamp(wrapper, read_at):
    """Note that ``wrapper`` was read from ``read_at`` (monotonic)."""
    setattr(wrapper, _READ_AT, read_at)
    return wrapper


def is_kept(wrapper):
    """Whether ``wrapper`` is one a slot kept (refreshed before use)."""
    return getattr(wrapper, _KEPT, False)


def _older(wrapper, posted_at):
    read_at = getattr(wrapper, _READ_AT, None)
    return (posted_at is not None and read_at is not None and
            read_at < posted_at)


class _WrapperTask(tf_args.KeptArgMapping, pvm_tx.WrapperTask):
    """pypowervm's WrapperTask, its TaskFlow argument mapping kept."""


class _Changes(pvm_tx.Subtask):
    """A batch's changes as one pypowervm Subtask.

    (Not one Subtask each: WrapperTask.execute inspects the signature of
    every Subtask's execute on every run.)
    """

    def __init__(self, changes):
        super().__init__()
        self.changes = changes

    def execute(self, wrapper):
        update = False
        for change in self.changes:
            change.raised = False
            try:
                change.result = change.func(wrapper)
            except Exception:
                change.raised = True
                raise
            update = update or bool(change.result)
        return update


def _commit(name, base, changes):
    """Apply ``changes`` to the wrapper ``base`` and POST once."""
    wtask = _WrapperTask(name, base)
    wtask.add_subtask(_Changes(changes))
    # The base is the batch's own: its tree may become the answer's.
    with vios_post.donated(base):
        wrapper, _provided = wtask.execute()
    return wrapper


def vios_key(uuid, xag):
    """The :func:`update` key of a VIOS read with ``xag``."""
    return (pvm_vios.VIOS.schema_type, uuid, tuple(sorted(xag or [])))


def _slot(adapter, key):
    """The slot of ``key`` (call with _LOCK held)."""
    return _SLOTS.setdefault(adapter, {}).setdefault(key, _Slot())


def _keep(slot, wrapper, at):
    """Make ``wrapper`` (current at ``at``) the slot's kept wrapper."""
    setattr(wrapper, _KEPT, True)
    slot.last, slot.last_at = wrapper, at


def _reusable(slot):
    return (slot.last is not None and
            time.monotonic() - slot.last_at < _REUSE_S)


def give_back(adapter, key, wrapper):
    """The caller is done with ``wrapper`` (and every part of it): keep it.

    A later ``reuse`` change of the object may start from it (no GET).  Kept
    only if this process POSTed nothing to the object since it was read
    (:func:`stamp`) and the slot keeps nothing newer.
    """
    read_at = getattr(wrapper, _READ_AT, None)
    if read_at is None:
        return
    with _LOCK:
        slot = _slot(adapter, key)
        if ((slot.posted_at is not None and read_at < slot.posted_at) or
                (slot.last is not None and slot.last_at >= read_at)):
            return
        _keep(slot, wrapper, read_at)


def kept(adapter, keys):
    """Whether a ``reuse`` change of every object of ``keys`` needs no GET."""
    with _LOCK:
        slots = _SLOTS.get(adapter, {})
        return all(key in slots and _reusable(slots[key]) for key in keys)


def take_kept(adapter, keys):
    """The kept wrappers of every object of ``keys``, taken, or None.

    Taken: the caller owns them (and may :func:`give_back` them); a change
    starting from one refreshes it first.  Read only outside a change: a
    SHARE caller may hold one (a batch changes a copy of such a wrapper).
    An empty list instead when another flow took some within
    :data:`_REUSE_S` (their answers will be kept again soon).
    """
    with _LOCK:
        slots = _SLOTS.get(adapter, {})
        if not keys or not all(key in slots for key in keys):
            return None
        if not all(_reusable(slots[key]) for key in keys):
            now = time.monotonic()
            recent = all(now - max(slots[key].last_at or -_REUSE_S,
                                   slots[key].posted_at or -_REUSE_S) <
                         _REUSE_S for key in keys)
            return [] if recent else None
        taken = []
        for key in keys:
            slot = slots[key]
            taken.append(slot.last)
            slot.last = None
        return taken


def update(key, getter, func, wrapper=None, name='batched_update',
           heavy=False, owned=False, answer=COPY, reuse=False):
    """Apply ``func(wrapper)`` to an object, POSTing it if ``func`` says so.

    :param key: identifies the object and the view of it (e.g. its UUID and
        the extended attribute groups of ``getter``).
    :param getter: pypowervm EntryWrapperGetter of the object.
    :param func: called with the object's wrapper; modifies it and returns
        a true value when it must be POSTed.  May be called more than once
        (on a re-read wrapper after an etag mismatch or a failed POST):
        must be idempotent (see the module docstring).
    :param wrapper: a current wrapper of the object the caller has, used
        (copied) when no wrapper from an earlier change is kept; never
        changed.
    :param heavy: the server does lengthy work for this change (an image
        copy): at most :data:`MAX_COPIES_PER_POST` share a POST (more
        while they are fast, :data:`FAST_COPY_S`).
    :param owned: ``wrapper`` is handed over: a batch may change it instead
        of a copy (after a failure it may hold a failed try's changes).
    :param answer: COPY: the caller gets a copy of the answer; LEND: the
        answer itself when no other change waits (the slot keeps nothing:
        the caller may :func:`give_back` it); SHARE: the answer itself,
        which the slot keeps and other SHARE callers get too: the caller
        must never change it (or any part of it), a later batch changes a
        copy; None: nothing (the slot keeps the answer, no copy).
    :param reuse: the change may start from a kept answer however old (up
        to :data:`_REUSE_S`), not only one this change waited for.
    :return: (the object's wrapper after the change, no other caller's, or
        None (``answer=None``); ``func``'s return).
    :raises: what ``func`` or the POST raised for this change.
    """
    change = _Change(func, wrapper, heavy, owned=owned and
                     wrapper is not None, answer=answer, reuse=reuse)
    with _LOCK:
        slot = _slot(getter.adapter, key)
        slot.queue.append(change)
    with slot.turn:
        while not change.done:
            if (slot.posted_at is not None and
                    time.monotonic() - slot.posted_at < _BUSY_S and
                    not _full(slot)):
                # The object is busy: changes released by the same earlier
                # batch (e.g. the disks of concurrent spawns) arrive within
                # milliseconds; take them along (unless no more fit).
                time.sleep(_LINGER_S)
            with _LOCK:
                batch = _take(slot)
            _run_batch(name, slot, getter, batch)
    if change.error is not None:
        raise change.error
    return change.wrapper, change.result


def _copies_per_post(slot):
    """How many heavy changes the slot's next POST may carry."""
    if slot.copy_s is not None and slot.copy_s <= FAST_COPY_S:
        return MAX_FAST_COPIES_PER_POST
    return MAX_COPIES_PER_POST


def _full(slot):
    """Whether the queue already holds a whole batch of heavy changes."""
    with _LOCK:
        return sum(1 for change in slot.queue
                   if change.heavy) >= _copies_per_post(slot)


def _take(slot):
    """Dequeue the next batch: all queued, heavy ones up to the bound."""
    batch, rest = [], []
    heavy = 0
    bound = _copies_per_post(slot)
    for change in slot.queue:
        if change.heavy:
            if heavy >= bound:
                rest.append(change)
                continue
            heavy += 1
        batch.append(change)
    slot.queue = rest
    return batch


def _current(wrapper):
    """``wrapper``, or a new read if the object changed since (kept ones).

    A kept wrapper may be older than the change: one conditional GET (304,
    no body, when the etag is unchanged).
    """
    if not is_kept(wrapper):
        return wrapper
    delattr(wrapper, _KEPT)
    start = time.monotonic()
    fresh = wrapper.refresh()
    if fresh is wrapper:
        LOG.debug('%s %s unchanged since kept.', wrapper.schema_type,
                  wrapper.uuid)
    return stamp(fresh, start)


def _base(slot, getter, batch):
    """The wrapper a batch starts from, its own to change."""
    recent = [c for c in batch if c.wrapper is not None and
              not _older(c.wrapper, slot.posted_at)]
    for change in reversed(recent):
        if change.owned:
            # Handed over by its caller: no copy.
            return _current(change.wrapper)
    if recent:
        # A copy: the caller's wrapper must not get the others' changes.
        wrapper = recent[-1].wrapper
        base = _copy(wrapper)
        if is_kept(wrapper):
            setattr(base, _KEPT, True)
        return _current(base)
    # A caller's wrapper read before this process's last POST of the object
    # would only earn a 412.  That POST's answer is newer: use it when it is
    # recent, for changes that waited for it or hold such a wrapper (not for
    # callers that passed none: they may know of a change made elsewhere),
    # or when every change allows it (reuse).
    with _LOCK:
        base = slot.last
        if base is not None and (
                slot.posted_at is not None and
                time.monotonic() - slot.posted_at < _BUSY_S and
                any(c.queued_at < slot.posted_at or c.wrapper is not None
                    for c in batch)):
            # Current as of that POST, which these changes waited for.
            slot.last = None
            setattr(base, _KEPT, False)
            return base
        reuse = all(c.reuse for c in batch) and _reusable(slot)
        if reuse:
            slot.last = None
    if reuse:
        return _current(base)
    # A new read: a getter's cached wrapper may carry a failed try's changes.
    return pvm_private.read_again(getter)


def _run_batch(name, slot, getter, batch):
    """Commit ``batch`` together; on failure, each change alone."""
    if len(batch) > 1:
        LOG.debug('%(name)s: %(n)d changes in one update.',
                  {'name': name, 'n': len(batch)})
    try:
        try:
            base = _unshared(_base(slot, getter, batch))
            start = time.monotonic()
            result = _commit(name, base, batch)
            copies = sum(1 for change in batch if change.heavy)
            if copies:
                slot.copy_s = (time.monotonic() - start) / copies
        except Exception as e:
            slot.posted_at = time.monotonic()
            slot.last = None
            # How long copies take is unknown again: the default bound.
            slot.copy_s = None
            if len(batch) == 1 and not _may_retry(batch[0], e):
                batch[0].error = e
                return
            if len(batch) == 1:
                LOG.warning('%(name)s: the update failed (%(err)s) but may '
                            'have been made; retrying on a fresh read.',
                            {'name': name, 'err': e})
            # Find the failing change(s) and those the POST made: each
            # alone on a fresh read.
            for change in batch:
                try:
                    change.wrapper = _commit(
                        name, pvm_private.read_again(getter), [change])
                except Exception as e1:
                    change.error = e1
            return
        _hand_out(slot, stamp(result, time.monotonic()), batch)
    finally:
        for change in batch:
            change.done = True


def _hand_out(slot, result, batch):
    """The slot keeps the answer, each taker gets a copy of its own.

    (A caller may change its copy, or pass it to a later change: handing the
    answer itself to a caller the slot also gave to a later batch let a
    flow's unposted change reach that batch's POST.)  But a lender gets the
    answer itself when no other change waits for it and no sharer reads it:
    the slot keeps nothing; sharers get the answer the slot keeps.
    """
    sharers = [c for c in batch if c.answer == SHARE]
    takers = [c for c in batch if c.answer in (COPY, LEND)]
    lenders = [c for c in takers if c.answer == LEND]
    with _LOCK:
        slot.posted_at = read_at = getattr(result, _READ_AT)
        if lenders and not slot.queue and not sharers:
            slot.last = None
            lenders[-1].wrapper = result
            takers.remove(lenders[-1])
        else:
            _keep(slot, result, read_at)
    if sharers:
        setattr(result, _SHARED, True)
    for change in batch:
        if change in takers:
            change.wrapper = stamp(_copy(result), read_at)
        elif change in sharers:
            change.wrapper = result
        elif change.answer is None:
            change.wrapper = None


def _unshared(wrapper):
    """``wrapper``, or a copy if SHARE callers may read it: a batch's own."""
    if not getattr(wrapper, _SHARED, False):
        return wrapper
    return stamp(_copy(wrapper), getattr(wrapper, _READ_AT, None))


def _may_retry(change, error):
    """Whether a lone change's failed POST may have been made."""
    return not change.raised and exc.may_have_applied(error)


def _copy(wrapper):
    """A deep copy of a pypowervm EntryWrapper (same etag).

    The lxml tree is copied directly (a VIOS with 500 SCSI mappings: about
    as costly as a parse, lxml 6.1: avoid copies).
    """
    entry = wrapper.entry
    if isinstance(entry, pvm_ent.Entry):
        entry = pvm_ent.Entry(copy.deepcopy(entry.properties),
                              copy.deepcopy(entry.element.element),
                              entry.adapter)
    else:
        entry = copy.deepcopy(entry)
    return type(wrapper).wrap(entry, etag=wrapper.etag)
