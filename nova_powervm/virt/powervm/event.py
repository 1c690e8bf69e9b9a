"""Partition events from the PowerVM event feed: lifecycle and NVRAM.

pypowervm's event listener long-polls the REST server's event feed in its
own thread and hands every batch to :class:`PowerVMNovaEventHandler`.  For
each partition that was added or changed the handler reads its quick
properties (one GET; when one poll brings several partitions' events, one
GET of every partition's: :meth:`state_cache.PartitionCache.read_all_at`),
keeps them in its :class:`state_cache.PartitionCache` (what ``get_info``
and ``list_instances`` answer from) and emits a nova
``LifecycleEvent`` when its power state changed.  A stop is held back for
:data:`STOP_EVENT_DELAY` seconds and dropped if the partition starts again,
so a reboot does not look like a stop to nova.
A ``MODIFY_URI`` whose detail names ``NVRAM`` goes to the driver's NVRAM
manager (``nvram/``), which saves the partition's NVRAM in the background.
"""
import collections
import threading

from nova.compute import power_state
from nova import context as nova_context
from nova import exception as nova_exc
from nova import objects
from nova.virt import event as nova_event
from oslo_log import log as logging
from pypowervm import adapter as pvm_adpt

from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import pvm_private
from nova_powervm.virt.powervm import state_cache
from nova_powervm.virt.powervm import vm

LOG = logging.getLogger(__name__)

# Seconds a stop event is held back (a reboot passes through 'not activated').
STOP_EVENT_DELAY = 15
# Partitions whose instance and last event are remembered (the most recent;
# a host runs at most about a thousand).
KEEP_PARTITIONS = 4096

_TRANSITIONS = {
    power_state.RUNNING: nova_event.EVENT_LIFECYCLE_STARTED,
    power_state.SHUTDOWN: nova_event.EVENT_LIFECYCLE_STOPPED,
    power_state.SUSPENDED: nova_event.EVENT_LIFECYCLE_SUSPENDED,
    power_state.PAUSED: nova_event.EVENT_LIFECYCLE_PAUSED,
}

_LPAR_PATH = '/LogicalPartition/'


def _lpar_uuid(href):
    """Partition UUID of an event's object href.

    None for other objects and for a partition's child objects.
    """
    if not href or _LPAR_PATH not in href:
        return None
    tail = href.split(_LPAR_PATH, 1)[1].split('?', 1)[0].strip('/')
    if not tail or '/' in tail:
        return None
    return tail.upper()


def _relevant(etype, evt):
    """Whether a partition's event may change what the cache holds."""
    if etype == 'ADD_URI':
        return True
    if etype not in ('MODIFY_URI', 'INVALID_URI'):
        return False
    detail = evt.get('EventDetail') or ''
    return not detail or 'PartitionState' in detail or \
        'PartitionName' in detail


class _Recent(collections.OrderedDict):
    """A dict of the ``KEEP_PARTITIONS`` most recently set keys.

    Deleted partitions are not dropped at their delete event: a rebuild
    re-creates the same partition, maybe before that event is seen.
    """

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > KEEP_PARTITIONS:
            self.popitem(last=False)


class PowerVMNovaEventHandler(pvm_adpt.RawEventHandler):
    """Turns PowerVM partition state events into nova LifecycleEvents."""

    def __init__(self, driver):
        self._driver = driver
        self.cache = state_cache.PartitionCache(driver.adapter)
        self._lock = threading.Lock()
        # partition uuid -> nova instance uuid ('' : not a nova instance)
        self._uuids = _Recent()
        # partition uuid -> last transition emitted
        self._last = _Recent()
        # partition uuid -> pending delayed stop (threading.Timer)
        self._pending = {}

    # -- mapping partitions to instances ---------------------------------

    def remember(self, instance):
        """Record an instance's partition uuid (saves a DB lookup)."""
        with self._lock:
            self._uuids[ids.pvm_uuid(instance)] = instance.uuid

    def _instance_uuid(self, pvm_uuid):
        with self._lock:
            known = self._uuids.get(pvm_uuid)
        if known is not None:
            return known or None
        ctx = nova_context.get_admin_context()
        for candidate in ids.instance_uuid_candidates(pvm_uuid):
            try:
                inst = objects.Instance.get_by_uuid(ctx, candidate,
                                                    expected_attrs=[])
            except nova_exc.InstanceNotFound:
                continue
            except Exception as e:
                LOG.warning('Cannot look up the instance of partition '
                            '%(uuid)s: %(err)s', {'uuid': pvm_uuid, 'err': e})
                return None
            with self._lock:
                self._uuids[pvm_uuid] = inst.uuid
            return inst.uuid
        # Neither candidate is an instance: not nova's partition (its UUID
        # never changes), not looked up again.
        with self._lock:
            self._uuids.setdefault(pvm_uuid, '')
        return None

    # -- event processing ------------------------------------------------

    def process(self, events):
        """Handle one batch of raw events (called in the poll thread).

        Called after every poll, also an empty or failed one.
        """
        try:
            self._process(events)
        except Exception:
            # Never let one bad batch stop the listener; what it did not
            # apply is read fresh.
            self.cache.invalidate()
            LOG.exception('Error processing PowerVM events.')
        finally:
            self.cache.polled()

    def _process(self, events):
        changed = []
        nvram = []
        resync = False
        for evt in events:
            etype = evt.get('EventType')
            if etype in ('CACHE_CLEARED', 'MISSING_EVENTS', 'NEW_CLIENT'):
                # Events may have been lost (REST restart, reconnect).
                resync = True
                continue
            uuid = _lpar_uuid(evt.get('EventData'))
            if uuid is None:
                continue
            if etype == 'DELETE_URI':
                self.cache.forget(uuid)
                self._cancel(uuid)
                if uuid in changed:
                    changed.remove(uuid)
            elif uuid not in changed and _relevant(etype, evt):
                changed.append(uuid)
            detail = evt.get('EventDetail') or ''
            if etype == 'MODIFY_URI' and 'NVRAM' in detail and \
                    uuid not in nvram:
                nvram.append(uuid)
        # A partition the driver is changing: read once, after the change
        # (unless read since).
        changed = [u for u in changed if not self.cache.defer(u)]
        ended, known = self.cache.ended()
        changed += [u for u in ended if u not in changed]
        if resync:
            self.cache.invalidate()
            if self._resync():
                # The refill read every partition after these events.
                changed, known = [], {}
        for uuid, props in known.items():
            if uuid not in changed:
                self._handle_props(uuid, props)
        if len(changed) >= self.cache.read_all_at():
            self._states_changed(changed)
        else:
            for uuid in changed:
                self._state_changed(uuid)
        for uuid in nvram:
            self._nvram_changed(uuid)

    def _nvram_changed(self, uuid):
        """Hand an instance's NVRAM change to the driver's NVRAM manager."""
        mgr = self._driver.nvram_mgr
        if mgr is None:
            return
        inst_uuid = self._instance_uuid(uuid)
        if inst_uuid is not None:
            mgr.changed(uuid, inst_uuid)

    def _resync(self):
        """Re-read every partition after lost events (one quick/All GET).

        Refills the cache; emits what differs from what was last emitted.
        :return: whether the partitions could be read.
        """
        try:
            parts = self.cache.refill()
        except Exception as e:
            LOG.warning('Unable to re-read partition states after lost '
                        'events: %s', e)
            return False
        for uuid, props in parts.items():
            self._handle_state(uuid, props.get('PartitionState'))
        return True

    def _states_changed(self, uuids):
        """Several partitions changed: read them all at once (one GET)."""
        parts = self.cache.refill()
        for uuid in uuids:
            props = parts.get(uuid)
            if props is None:
                # Deleted meanwhile (or the management partition).
                self._cancel(uuid)
            else:
                self._handle_state(uuid, props.get('PartitionState'))

    def _state_changed(self, uuid):
        self._handle_props(uuid, self.cache.refresh(uuid))

    def _handle_props(self, uuid, props):
        if props is None:
            # Deleted meanwhile: nothing to report.
            self._cancel(uuid)
            return
        self._handle_state(uuid, props.get('PartitionState'))

    def _handle_state(self, uuid, pvm_state):
        with self._lock:
            if self._uuids.get(uuid) == '':
                return   # not a nova instance
        transition = _TRANSITIONS.get(vm.power_state_of(pvm_state))
        if transition is None:
            # Transient state (starting, shutting down, ...): wait.
            return
        if transition == nova_event.EVENT_LIFECYCLE_STOPPED:
            if self._last.get(uuid) == transition:
                # Already reported (e.g. a resync): nothing to confirm.
                self._cancel(uuid)
            else:
                self._delay_stop(uuid)
            return
        self._cancel(uuid)
        if (transition == nova_event.EVENT_LIFECYCLE_STARTED and
                self._last.get(uuid) == nova_event.EVENT_LIFECYCLE_SUSPENDED):
            transition = nova_event.EVENT_LIFECYCLE_RESUMED
        self._emit(uuid, transition)

    def _delay_stop(self, uuid):
        with self._lock:
            if uuid in self._pending:
                return
            timer = threading.Timer(STOP_EVENT_DELAY, self._delayed_stop,
                                    args=(uuid,))
            timer.daemon = True
            self._pending[uuid] = timer
        timer.start()

    def _delayed_stop(self, uuid):
        with self._lock:
            if self._pending.pop(uuid, None) is None:
                return  # cancelled
        try:
            props = self.cache.refresh(uuid)
        except Exception as e:
            LOG.warning('Unable to confirm the stop of partition %(uuid)s: '
                        '%(err)s', {'uuid': uuid, 'err': e})
            return
        if props is None:
            return
        if vm.power_state_of(props.get('PartitionState')) == \
                power_state.SHUTDOWN:
            self._emit(uuid, nova_event.EVENT_LIFECYCLE_STOPPED)

    def _cancel(self, uuid):
        with self._lock:
            timer = self._pending.pop(uuid, None)
        if timer is not None:
            timer.cancel()

    def _emit(self, uuid, transition):
        if self._last.get(uuid) == transition:
            return
        inst_uuid = self._instance_uuid(uuid)
        if inst_uuid is None:
            LOG.debug('Partition %s is not a nova instance; event ignored.',
                      uuid)
            return
        self._last[uuid] = transition
        LOG.debug('Partition %(uuid)s: lifecycle event %(trans)s.',
                  {'uuid': uuid, 'trans': transition})
        self._driver.emit_event(nova_event.LifecycleEvent(inst_uuid,
                                                          transition))

    def stop(self):
        """Cancel pending delayed stop events."""
        with self._lock:
            timers = list(self._pending.values())
            self._pending.clear()
        for timer in timers:
            timer.cancel()


def start_listener(driver):
    """Subscribe a handler to the session's event feed; return it.

    Returns None (and logs) when the event feed is unavailable: nova's
    periodic power state sync still keeps states right, only later.
    """
    handler = PowerVMNovaEventHandler(driver)
    try:
        listener = driver.adapter.session.get_event_listener()
        # Its first read (the NEW_CLIENT answer) has just succeeded: the
        # server queues every later event for it.
        if pvm_private.watch_event_reads(listener, handler.cache.feed_read):
            pvm_private.lean_event_reads(listener, handler.cache.feed_read)
            handler.cache.feed_read(True)
            handler.cache.polled()
        listener.subscribe(handler)
    except Exception as e:
        LOG.warning('PowerVM event feed unavailable; no lifecycle events '
                    'will be sent: %s', e)
        return None
    return handler


def stop_listener(driver, handler):
    """Unsubscribe ``handler``.

    Done before the session's own shutdown: with several handlers
    pypowervm's shutdown skips one and its poll thread keeps the process
    alive.
    """
    if handler is None:
        return
    handler.stop()
    session = driver.adapter.session
    if not session.has_event_listener:
        return
    listener = session.get_event_listener()
    try:
        listener.unsubscribe(handler)
    except ValueError:
        pass  # not subscribed
