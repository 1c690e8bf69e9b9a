"""Several simulated hosts on one SAN: a shared SSP cluster.

Real NovaLink: every managed system has its own REST endpoint (own
sessions, events, request log) showing only its own ManagedSystem, VIOSes
and partitions, while a Shared Storage Pool cluster whose nodes are VIOSes
of several systems is one cluster: its Cluster, SharedStoragePool, Tier
and LogicalUnit objects, and the LUs' contents, are the same from every
member's endpoint.

A ``San`` joins N ``Simulator`` objects (``Simulator(san=...)``, or
``SimulatorFixture(hosts=N)``, ``powervm-simulator --hosts N``):

* host *i* > 0 gets its own identity: every UUID of the default host is
  mapped to another (stable) one, the serial number differs;
* all members share one state lock, so a hook running for one host may
  read (``members``) and a change is copied to the others before the lock
  is released: no client of any endpoint sees a half-replicated state;
* the shared objects keep their UUIDs on every endpoint (hrefs point at
  that endpoint); each endpoint gives them its own etags and emits its own
  ADD/MODIFY/DELETE events;
* the cluster's ``Node`` list holds every member's VIOSes; a node of
  another host links to its VIOS under that host's ManagedSystem (the link
  cannot be followed on this endpoint, as on real NovaLink);
* LU contents live in files shared by all members (``storage._blobs``);
* one Fibre Channel fabric: each host's physical FC ports have their own
  WWPNs, a LUN (target WWPN, LUN) has the same UDID from every host that
  has a path to it, generated virtual WWPNs are unique across the hosts
  (``fc._shared``); ``set_fc_target_reachable`` is per host (zoning);
* ``reset()`` of any member resets them all.
"""
import re
import tempfile
import threading
import uuid as uuidlib

from lxml import etree

from nova_powervm.simulator import xmlutil as xu

SHARED_TYPES = frozenset(('Cluster', 'SharedStoragePool', 'Tier',
                          'LogicalUnit'))
_UUID_RE = re.compile(rb'[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-'
                      rb'[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}')
SERIAL = b'9999999'


def host_uuid(index, uid):
    """The UUID that stands for the default host's ``uid`` on host index.

    Stable (the same in every run), and in the case style of the original
    (partition UUIDs are upper-case with a first digit below 8).
    """
    if not index:
        return uid
    new = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                            'powervm-sim-host-%d/%s' % (index, uid.lower())))
    if uid.isupper() or uid != uid.lower():
        new = ('%x' % (int(new[0], 16) % 8)) + new[1:]
        return new.upper()
    return new


def rehost(index, data):
    """Serialized default-host object ``data`` as host ``index`` has it."""
    if not index:
        return data
    data = _UUID_RE.sub(
        lambda m: host_uuid(index, m.group(0).decode()).encode(), data)
    return data.replace(SERIAL, str(int(SERIAL) - index).encode())


class _SanLock(object):
    """The members' shared re-entrant lock.

    Releasing the outermost hold first copies what changed to the other
    members (``San.flush``).
    """

    def __init__(self, san):
        self._san = san
        self._lock = threading.RLock()
        self._depth = threading.local()

    def acquire(self, blocking=True, timeout=-1):
        if not self._lock.acquire(blocking, timeout):
            return False
        self._depth.n = getattr(self._depth, 'n', 0) + 1
        return True

    def release(self):
        try:
            if self._depth.n == 1:
                self._san.flush()
        finally:
            self._depth.n -= 1
            self._lock.release()

    def __enter__(self):
        self.acquire()
        return True

    def __exit__(self, *exc):
        self.release()
        return False


class San(object):
    """Storage shared by several simulated hosts (see the module doc)."""

    def __init__(self):
        self.lock = _SanLock(self)
        self.sims = []        # attached, in order (index = position)
        self.seeded = []      # members whose state exists
        self.blobs = {}       # shared storage UDID -> content file
        self.extra = {}       # fabric-wide state of hook modules (fc.py)
        self._tmp = tempfile.TemporaryDirectory(prefix='powervm-sim-san-')
        self._dirty = []
        self._flushing = False

    @property
    def data_dir(self):
        return self._tmp.name

    def attach(self, sim):
        """Add a simulator; returns its host index."""
        self.sims.append(sim)
        return len(self.sims) - 1

    def members(self, sim=None):
        """Seeded members (all, or all but ``sim``)."""
        return [m for m in self.seeded if m is not sim]

    def joined(self, sim):
        """``sim`` is seeded (called under the lock): copy it out."""
        if sim not in self.seeded:
            self.seeded.append(sim)
        if sim not in self._dirty:
            self._dirty.append(sim)

    def changed(self, sim, type_name):
        """A shared object of ``sim`` changed (copied at lock release)."""
        if (not self._flushing and type_name in SHARED_TYPES and
                sim in self.seeded and sim not in self._dirty):
            self._dirty.append(sim)

    def flush(self):
        """Copy the shared objects of changed members to the others."""
        while self._dirty:
            src = self._dirty.pop(0)
            for dst in self.members(src):
                self.copy(src, dst)

    def copy(self, src, dst):
        """Make dst's shared objects equal src's (events on dst)."""
        self._flushing = True
        try:
            want = {o.key: o for o in src.store.objs.values()
                    if o.type in SHARED_TYPES}
            have = {o.key: o for o in dst.store.objs.values()
                    if o.type in SHARED_TYPES}
            for key, obj in have.items():
                if key not in want:
                    href = dst.store.href(obj)
                    dst.store.discard(obj)
                    dst.events.emit('DELETE_URI', href, None)
            for key, obj in want.items():
                el = etree.fromstring(etree.tostring(obj.element),
                                      xu.parser())
                xu.normalize_hrefs(el, dst.base_url)
                cur = have.get(key)
                if cur is None:
                    dst.store.add(obj.type, obj.uuid, el, obj.parent,
                                  service=obj.service)
                elif etree.tostring(cur.element) != etree.tostring(el):
                    dst.store.replace(cur, el)
        finally:
            self._flushing = False

    def reset(self):
        """Every member back to its initial state (shared storage too)."""
        with self.lock:
            members = list(self.seeded)
            for sim in members:
                sim.store.clear()
                sim.extra.clear()
                sim.jobs.jobs.clear()
            del self.seeded[:]
            del self._dirty[:]
            self.blobs.clear()
            self.extra.clear()
            for sim in sorted(members, key=self.sims.index):
                sim._seed_locked()
                # Copy out now, as start() does: a later member joins
                # the cluster as this one has it (else the first member's
                # copy, without the later members' nodes, wins).
                self.flush()
        for sim in members:
            sim._reset_controls()

    def close(self):
        self._tmp.cleanup()
