"""Partition states and names kept current by the event feed.

nova-compute asks for the power state of every instance each
``sync_power_state_interval`` (``get_info``) and for the host's partitions
(``list_instances``, ``list_instance_uuids``).  One request per instance
each cycle grows with the host; this cache answers them with no request.

* Filled by one read of every partition's quick properties
  (``LogicalPartition/quick/All``: JSON, a few hundred bytes per
  partition), the first time it is needed after the event listener is up.
* Kept current by the event handler (``event.py``): a partition's add,
  change or delete event re-reads that partition's quick properties (or
  drops it; several partitions' events in one poll: one read of every
  partition's, :meth:`PartitionCache.read_all_at`), so what nova sees is at
  most one event-feed round trip old.
* Not trusted (every lookup reads fresh, as without a listener) while
  the event feed is not known to be delivering: before the first fill,
  after a failed event read (a lost answer may have carried events) until
  the next successful one, after a gap the server reports
  (``MISSING_EVENTS``, ``CACHE_CLEARED``, a new ``NEW_CLIENT``) until
  refilled, and when no poll completed for :data:`STALE_AFTER_S`.
* A partition the driver is changing (spawn, power, rescue: ``begin`` /
  ``end``) or one the cache does not know is read fresh (one quick GET),
  and that answer is kept; after the change, until a read that started
  after it is kept.  The events of a partition being changed are read
  once, at the first poll after the change (:meth:`PartitionCache.defer`),
  not one by one while the driver changes it, and not at all when a
  lookup read it after the change (nova reads the power state after each
  operation).

Reads that race are ordered: an answer only replaces one from a read that
started earlier.
"""
import functools
import inspect
import itertools
import threading
import time

from nova import exception as nova_exc
from nova.virt import hardware
from oslo_log import log as logging
from oslo_serialization import jsonutils
from pypowervm.wrappers import logical_partition as pvm_lpar

from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import vm

LOG = logging.getLogger(__name__)

# Without a completed event poll for this long the feed is not trusted
# (the server answers an idle poll every ~10 s).
STALE_AFTER_S = 60.0
# Deleted partitions' entries (kept to order racing reads) are dropped once
# the cache holds this many entries, live ones included.
PRUNE_AT = 1024
# One read of every partition's quick properties (refill) costs about one
# read of a single partition's more per this many partitions on the host.
READ_ALL_PARTITIONS_PER_READ = 64
_QUICK = 'quick'
_ALL = 'All'


def _uuid_of(props):
    return (props.get('UUID') or props.get('PartitionUUID') or '').upper()


def read_all(adapter):
    """{partition uuid: quick properties} of every client partition.

    One GET (``LogicalPartition/quick/All``); the management partition is
    left out.
    """
    resp = adapter.read(pvm_lpar.LPAR.schema_type, suffix_type=_QUICK,
                        suffix_parm=_ALL)
    parts = jsonutils.loads(resp.body) if resp.body else []
    mgmt_uuid = (mgmt.mgmt_uuid(adapter) or '').upper()
    return {_uuid_of(p): p for p in parts if _client(p, mgmt_uuid)}


def _client(props, mgmt_uuid):
    return (props is not None and
            not props.get('IsManagementPartition') and
            _uuid_of(props) != mgmt_uuid)


class PartitionCache(object):
    """Quick properties of the host's partitions (see the module doc)."""

    def __init__(self, adapter):
        self._adapter = adapter
        self._lock = threading.Lock()
        self._polled = threading.Condition(self._lock)
        self._polls = 0
        self._fill_lock = threading.Lock()
        self._seq = itertools.count(1)
        # uuid -> (read sequence, quick properties or None when deleted)
        self._parts = {}
        # sequence numbers of the reads in flight; when to prune
        self._reading = set()
        self._prune_at = PRUNE_AT
        self._filled = False
        self._feed_ok = False
        self._last_poll = None
        self._gen = 0
        # uuid -> driver operations in progress
        self._busy = {}
        # uuid -> sequence number when the driver began or ended changing
        # it: read fresh until a read that started later is kept
        self._dirty = {}
        # uuids whose events came while the driver was changing them
        self._deferred = set()

    # -- the event feed's health (event.py) ------------------------------

    def feed_read(self, ok):
        """An event feed read finished (``ok``) or failed."""
        with self._lock:
            if not ok:
                if self._feed_ok or self._filled:
                    LOG.info('Event feed read failed: partition states are '
                             'read fresh until it answers again.')
                self._invalidate()
            self._feed_ok = ok

    def polled(self):
        """One poll's events (maybe none) are applied."""
        with self._lock:
            self._last_poll = time.monotonic()
            self._polls += 1
            self._polled.notify_all()

    def wait_for_poll(self, timeout):
        """Wait until the events of the poll after this call are applied.

        A change made before this call is then in the cache (the server
        answers a waiting poll at once when an event is queued).  False on
        timeout.
        """
        with self._lock:
            want = self._polls + 2
            return self._polled.wait_for(lambda: self._polls >= want,
                                         timeout)

    def invalidate(self):
        """Events may have been lost: refill before the next answer."""
        with self._lock:
            self._invalidate()

    def _invalidate(self):
        self._filled = False
        self._gen += 1

    def _trusted(self):
        return (self._filled and self._feed_ok and
                self._last_poll is not None and
                time.monotonic() - self._last_poll < STALE_AFTER_S)

    def _feed_alive(self):
        return (self._feed_ok and self._last_poll is not None and
                time.monotonic() - self._last_poll < STALE_AFTER_S)

    # -- updates ---------------------------------------------------------

    def _store(self, seq, uuid, props):
        old = self._parts.get(uuid)
        if old is None or old[0] < seq:
            self._parts[uuid] = (seq, props)

    def refresh(self, uuid):
        """Re-read one partition (its event arrived); its properties.

        None when it is gone.
        """
        seq = self._start_read()
        try:
            props = vm.get_vm_qp(self._adapter, uuid)
        except nova_exc.InstanceNotFound:
            props = None
        except Exception:
            with self._lock:
                self._reading.discard(seq)
            raise
        with self._lock:
            self._reading.discard(seq)
            self._store(seq, uuid, props)
            self._clean(seq, uuid)
        return props

    def _clean(self, seq, uuid):
        """A read that started at ``seq`` is kept: maybe not dirty now."""
        if uuid in self._dirty and not self._busy.get(uuid) and \
                self._dirty[uuid] < seq:
            del self._dirty[uuid]

    def _start_read(self):
        with self._lock:
            seq = next(self._seq)
            self._reading.add(seq)
        return seq

    def forget(self, uuid):
        """The partition was deleted."""
        seq = next(self._seq)
        with self._lock:
            self._deferred.discard(uuid)
            self._store(seq, uuid, None)
            self._clean(seq, uuid)
            if len(self._parts) >= self._prune_at:
                self._prune()

    def _prune(self):
        """Drop deleted partitions' entries no read in flight can race."""
        floor = min(self._reading, default=None)
        for uuid in [u for u, (s, p) in self._parts.items()
                     if p is None and (floor is None or s < floor)]:
            del self._parts[uuid]
        self._prune_at = max(PRUNE_AT, 2 * len(self._parts))

    def refill(self):
        """Read every partition (one GET); {uuid: properties}."""
        with self._lock:
            gen = self._gen
        seq = self._start_read()
        try:
            parts = read_all(self._adapter)
        except Exception:
            with self._lock:
                self._reading.discard(seq)
            raise
        with self._lock:
            self._reading.discard(seq)
            for uuid in [u for u, (s, p) in self._parts.items()
                         if p is not None and u not in parts and s < seq]:
                self._parts[uuid] = (seq, None)
            for uuid, props in parts.items():
                self._store(seq, uuid, props)
            for uuid in list(self._dirty):
                self._clean(seq, uuid)
            if gen == self._gen:
                self._filled = True
        return parts

    def read_all_at(self):
        """Changed partitions from which one :meth:`refill` is cheaper.

        At least two; more on a host with many partitions (the answer grows
        with the host).
        """
        with self._lock:
            known = len(self._parts)
        return 2 + known // READ_ALL_PARTITIONS_PER_READ

    def defer(self, uuid):
        """Whether the event of ``uuid`` waits for the driver's change.

        A partition the driver is changing is read fresh by every lookup,
        and nova ignores lifecycle events of an instance with a task in
        progress: its events are read once, after the change
        (:meth:`ended`), not each alone.
        """
        with self._lock:
            if self._busy.get(uuid):
                self._deferred.add(uuid)
                return True
        return False

    def ended(self):
        """The deferred partitions no longer being changed (taken).

        :return: (uuids to read, {uuid: properties (None: deleted) read
            after the change}): a partition read since the change ended
            (e.g. nova's lookup of its power state after the operation)
            needs no other read.
        """
        with self._lock:
            done = {u for u in self._deferred if not self._busy.get(u)}
            self._deferred -= done
            known = {u: self._parts[u][1] for u in done
                     if u not in self._dirty and u in self._parts}
        return sorted(done - set(known)), known

    def begin(self, uuid):
        """The driver starts changing a partition: read it fresh."""
        with self._lock:
            self._busy[uuid] = self._busy.get(uuid, 0) + 1
            self._dirty[uuid] = next(self._seq)

    def end(self, uuid):
        """The driver's change is done; the next lookup reads it fresh."""
        with self._lock:
            left = self._busy.get(uuid, 1) - 1
            if left > 0:
                self._busy[uuid] = left
            else:
                self._busy.pop(uuid, None)
            self._dirty[uuid] = next(self._seq)

    # -- lookups ---------------------------------------------------------

    def _ensure_filled(self):
        """Refill when the feed is alive but the cache is not filled."""
        with self._lock:
            if self._filled or not self._feed_alive():
                return
        with self._fill_lock:
            with self._lock:
                if self._filled:
                    return
            self.refill()

    def properties(self, uuid):
        """Quick properties of partition ``uuid``.

        :raises InstanceNotFound: no such partition.
        """
        uuid = uuid.upper()
        self._ensure_filled()
        with self._lock:
            entry = self._parts.get(uuid)
            if (self._trusted() and entry is not None and
                    entry[1] is not None and uuid not in self._dirty):
                return entry[1]
        props = self.refresh(uuid)
        if props is None:
            raise nova_exc.InstanceNotFound(instance_id=uuid)
        return props

    def partitions(self):
        """{uuid: quick properties} of every client partition."""
        self._ensure_filled()
        mgmt_uuid = (mgmt.mgmt_uuid(self._adapter) or '').upper()
        with self._lock:
            if self._trusted():
                return {u: p for u, (s, p) in self._parts.items()
                        if _client(p, mgmt_uuid)}
        return read_all(self._adapter)


# -- the driver's entry points -------------------------------------------


def _cache(driver):
    handler = driver.event_handler
    return handler.cache if handler is not None else None


def get_info(driver, instance):
    """nova InstanceInfo: from the cache, or one quick GET without it."""
    cache = _cache(driver)
    if cache is None:
        return vm.get_info(driver.adapter, instance)
    try:
        props = cache.properties(ids.pvm_uuid(instance))
    except nova_exc.InstanceNotFound:
        raise nova_exc.InstanceNotFound(instance_id=instance.uuid)
    return hardware.InstanceInfo(
        state=vm.power_state_of(props.get('PartitionState')))


def instance_exists(driver, instance):
    """Whether the instance has a partition (cache, or one GET)."""
    try:
        get_info(driver, instance)
    except nova_exc.InstanceNotFound:
        return False
    return True


def partitions(driver):
    """{uuid: quick properties} of the client partitions (0 or 1 GET)."""
    cache = _cache(driver)
    if cache is None:
        return read_all(driver.adapter)
    return cache.partitions()


def remember(driver, instance):
    """The driver changes ``instance``'s partition: learn it, read it fresh.

    For methods that cannot use :func:`changes_partition`.
    """
    handler = driver.event_handler
    if handler is not None:
        handler.remember(instance)
        handler.cache.end(ids.pvm_uuid(instance))


def changes_partition(fn):
    """Decorate a driver method that changes its ``instance``'s partition.

    The event handler learns the instance (no database lookup for its
    events) and the cache reads the partition fresh during and after it.
    """
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(driver, *args, **kwargs):
        handler = driver.event_handler
        if handler is None:
            return fn(driver, *args, **kwargs)
        instance = sig.bind(driver, *args, **kwargs).arguments['instance']
        handler.remember(instance)
        uuid = ids.pvm_uuid(instance)
        handler.cache.begin(uuid)
        try:
            return fn(driver, *args, **kwargs)
        finally:
            handler.cache.end(uuid)
    return wrapper
