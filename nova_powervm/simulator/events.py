"""Event feed: one queue per listening application, long-polled."""
import collections
import itertools
import threading
import time
import uuid as uuidlib

from lxml import etree

from nova_powervm.simulator import xmlutil as xu

_MAX_QUEUE = 10000
_MAX_BATCH = 200


class EventBus(object):
    """Fan-out of ADD/MODIFY/DELETE_URI events to listener queues."""

    def __init__(self, hold_s=10.0):
        self.hold_s = hold_s
        self._cond = threading.Condition()
        self._queues = {}
        self._ids = itertools.count(int(time.time() * 1000))
        self._closed = False
        self.emitted = 0

    def emit(self, etype, href, detail=None):
        """Queue an event for every listener; returns its EventID."""
        with self._cond:
            self.emitted += 1
            ev = (str(next(self._ids)), etype, href, detail)
            for appid, q in self._queues.items():
                if len(q) >= _MAX_QUEUE:
                    q.clear()
                    q.append((str(next(self._ids)), 'MISSING_EVENTS', '',
                              None))
                q.append(ev)
            self._cond.notify_all()
            return ev[0]

    def poll(self, appid, hold_s=None):
        """Events for appid; waits up to hold_s when there are none."""
        hold = self.hold_s if hold_s is None else hold_s
        deadline = time.monotonic() + hold
        with self._cond:
            q = self._queues.get(appid)
            if q is None:
                q = self._queues[appid] = collections.deque()
                q.append((str(next(self._ids)), 'NEW_CLIENT', '', None))
            while not q and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            out = []
            while q and len(out) < _MAX_BATCH:
                out.append(q.popleft())
            return out

    def wake_all(self, closing=False):
        """Release long polls (server stopping)."""
        with self._cond:
            self._closed = closing
            self._cond.notify_all()

    def reset(self):
        """Forget all listeners' queues (they get NEW_CLIENT again)."""
        with self._cond:
            self._queues.clear()

    def invalidate_all(self):
        """Send CACHE_CLEARED to every listener (e.g. after reset())."""
        with self._cond:
            for q in self._queues.values():
                q.clear()
                q.append((str(next(self._ids)), 'CACHE_CLEARED', '', None))
            self._cond.notify_all()


def feed(base_url, events):
    """Atom feed bytes for a list of (id, type, href, detail)."""
    entries = []
    for eid, etype, href, detail in events:
        el = etree.Element('{%s}Event' % xu.UOM_NS, nsmap={None: xu.UOM_NS},
                           attrib={'schemaVersion': 'V1_3_0'})
        uid = str(uuidlib.uuid4())
        xu.metadata(el, uid)
        xu.make(el, 'EventType', etype)
        xu.make(el, 'EventID', eid)
        xu.make(el, 'EventData', href)
        xu.make(el, 'EventDetail', detail)
        entries.append(xu.entry_bytes(
            uid, '%s/rest/api/uom/Event/%s' % (base_url, uid), None,
            etree.tostring(el), 'Event'))
    return xu.feed_bytes(base_url + '/rest/api/uom/Event', entries)
