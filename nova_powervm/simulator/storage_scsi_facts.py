"""What the VIOS update checks read of SCSI mapping elements.

A mapping's facts (target device, adapters, slots, client, storage) are a
function of its element alone.  A stored mapping keeps its element from
update to update (updates move the stored elements, they do not copy
them), so what one update read of the stored mappings is handed to the
next through the VIOS's cache (``memo``), which every other change of the
VIOS's element clears.

An update that only adds and removes mappings (storage_scsi_fast) also
hands over a Summary of the stored mappings' facts (counts per slot, name,
storage ...), kept up to date from update to update, so that its checks
read the counts of the mappings it keeps and the facts of the few it adds
instead of every mapping's (equal to a fresh count: tested).
"""
import collections

from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import xmlutil as xu

SCSI_PATH = 'VirtualSCSIMappings/VirtualSCSIMapping'
MEMO = stg.SCSI_FACTS


class Facts(object):
    """The facts of mapping elements, for one update's checks.

    Read once per stored mapping of the updated VIOS (``kept``: the update
    does not change them); other mappings (new, other VIOSes') are read
    each time.  ``memo``: what earlier updates read (stored_memo()).
    """

    def __init__(self, kept=(), memo=None):
        self._kept = {id(m): m for m in kept}
        # id -> (element, facts): the element held keeps its id unique.
        self._memo = dict(memo or {})
        # The in-place update's: a Summary of the stored mappings it keeps
        # and the ones it adds (the VIOS's mappings are those).
        self.summary = None
        self.added = ()
        self.removed = ()
        self.owner = None   # the element whose mappings those are

    def __call__(self, m):
        """{field: value} of mapping element m."""
        if id(m) not in self._kept:
            return facts_of(m)
        got = self._memo.get(id(m))
        if got is None:
            got = self._memo[id(m)] = (m, facts_of(m))
        return got[1]

    def kept_maps(self):
        return list(self._kept.values())

    def final(self, maps):
        """The memo of an accepted update whose mappings are ``maps``.

        Stored mappings come from the memo, new (filled) ones are read.
        """
        out = {}
        for m in maps:
            got = self._memo.get(id(m)) if id(m) in self._kept else None
            out[id(m)] = got if got is not None else (m, facts_of(m))
        return out

    def final_in_place(self):
        """final() of the in-place update (None: the memo lacks some).

        The stored mappings' memo less the removed ones plus the added.
        """
        out = dict(self._memo)
        for m in self.removed:
            out.pop(id(m), None)
        if len(out) != len(self._kept) - len(self.removed) or not (
                out.keys() <= self._kept.keys()):
            return None
        for m in self.added:
            out[id(m)] = (m, facts_of(m))
        return out


class Summary(object):
    """Counts over the facts of a set of mappings (a multiset each)."""

    __slots__ = ('sslots', 'vhosts', 'tnames', 'luas', 'pairs', 'cslots')

    def __init__(self):
        self.sslots = collections.Counter()   # int server slot
        self.vhosts = collections.Counter()
        self.tnames = collections.Counter()   # of those with a device
        self.luas = {}                        # sslot -> Counter(lua)
        self.pairs = collections.Counter()    # (client uuid, storage id)
        self.cslots = {}                      # client uuid -> Counter(int)

    @classmethod
    def of(cls, facts):
        out = cls()
        for f in facts:
            out.add(f)
        return out

    def add(self, f, n=1):
        """Count (n=1) or uncount (n=-1) one mapping's facts."""
        s = f['sslot']
        if s and s.isdigit():
            _count(self.sslots, int(s), n)
        _count(self.vhosts, f['vhost'], n)
        if f['has_td']:
            _count(self.tnames, f['tname'], n)
            luas = self.luas.setdefault(s, collections.Counter())
            _count(luas, f['lua'], n)
            if not luas:
                del self.luas[s]
        if f['storage'] is not None:
            _count(self.pairs, (f['client'][0], f['storage']), n)
        uid, s = f['client_uuid'], f['cslot']
        if uid and s and s.isdigit():
            slots = self.cslots.setdefault(uid, collections.Counter())
            _count(slots, int(s), n)
            if not slots:
                del self.cslots[uid]

    def __eq__(self, other):
        return all(getattr(self, k) == getattr(other, k)
                   for k in self.__slots__)

    def __ne__(self, other):
        return not self == other


def _count(counter, key, n):
    counter[key] += n
    if not counter[key]:
        del counter[key]


def take_summary(vios, stored, facts):
    """The Summary of the mappings ``facts`` keeps (stored ones), to change.

    The one kept with the memo (taken out of the VIOS's cache with the
    memo: they describe the stored mappings, not ones changed in place),
    else counted from ``facts``.
    """
    hit = vios.cache.pop(MEMO, None)
    if hit is not None and hit[0] is stored and hit[2] is not None:
        return hit[2]
    return Summary.of(facts(m) for m in facts.kept_maps())


def stored_memo(vios, stored):
    """What earlier updates read of the mappings of ``stored`` (or None).

    ``stored``: the VIOS's stored element (during an update, the old one).
    Kept in ``vios.cache``, which every change of a stored element clears
    (touch(), set(), a new element: the rule its cached answers rely on),
    so an entry is never older than the mappings it describes.
    """
    hit = vios.cache.get(MEMO)
    return hit[1] if hit is not None and hit[0] is stored else None


def keep_memo(obj, facts, ctx):
    """Hand an accepted update's memo over to the stored VIOS.

    Through ``ctx['keep_cache']``: rest puts it into the VIOS's cache once
    the update is stored.  With the Summary of the in-place update (its
    kept mappings' counts and the added ones', as filled).
    """
    summary = facts.summary
    memo = facts.final_in_place() if summary is not None else None
    if memo is None:
        memo = facts.final(xu.findall(obj.element, SCSI_PATH))
    if summary is not None:
        for m in facts.added:
            summary.add(memo[id(m)][1])
    ctx.setdefault('keep_cache', {})[MEMO] = (obj.element, memo, summary)


def _current(el, facts):
    """(Summary of the kept stored mappings or None, mappings to read).

    None: every mapping of el is read (the ordinary update, other callers).
    """
    if facts is not None and facts.summary is not None:
        return facts.summary, facts.added
    return None, xu.findall(el, SCSI_PATH)


def client_slots(vios, facts=None):
    """[(client uuid, {int client slot})] of a VIOS's SCSI mappings.

    From the Summary of the update under way (``facts``) or the one kept
    with the VIOS's memo, else read mapping by mapping.
    """
    el = vios.element
    summary, maps = None, ()
    if facts is not None and facts.summary is not None and \
            el is facts.owner:
        summary, maps = facts.summary, facts.added
    else:
        hit = vios.cache.get(MEMO)
        if hit is not None and hit[0] is el and hit[2] is not None:
            summary = hit[2]
        else:
            maps = xu.findall(el, SCSI_PATH)
    out = list(summary.cslots.items()) if summary is not None else []
    for m in maps:
        f = (facts or facts_of)(m)
        uid, s = f['client_uuid'], f['cslot']
        if uid and s and s.isdigit():
            out.append((uid, (int(s),)))
    return out


def server_slots(el, facts=None):
    """{int server slot} of el's SCSI mappings."""
    summary, maps = _current(el, facts)
    out = set(summary.sslots) if summary is not None else set()
    for m in maps:
        s = (facts or facts_of)(m)['sslot']
        if s and s.isdigit():
            out.add(int(s))
    return out


def vhosts(el, facts):
    """{server adapter name} of el's SCSI mappings (None included)."""
    summary, maps = _current(el, facts)
    out = set(summary.vhosts) if summary is not None else set()
    out.update(facts(x)['vhost'] for x in maps)
    return out


def targets(el, m, sslot, facts):
    """({target name}, {LUA in server slot sslot}) of el's mappings.

    Of its SCSI mappings with a target device, but m.
    """
    summary, maps = _current(el, facts)
    names, luas = set(), set()
    if summary is not None:
        names.update(summary.tnames)
        luas.update(summary.luas.get(str(sslot), ()))
    for x in maps:
        if x is m:
            continue
        f = facts(x)
        if f['has_td']:
            names.add(f['tname'])
            if f['sslot'] == str(sslot):
                luas.add(f['lua'])
    return names, luas


def duplicate_pair(el, facts):
    """The first (client, storage) pair el's SCSI mappings map twice.

    None: none.  With a Summary, only when the added mappings' pairs are
    all new (and the kept ones' unique) is the answer known without
    reading every mapping in order.
    """
    summary, maps = _current(el, facts)
    if summary is not None:
        keys = [(f['client'][0], f['storage']) for f in map(facts, maps)
                if f['storage'] is not None]
        if (len(set(keys)) == len(keys) and
                not any(k in summary.pairs for k in keys) and
                all(n == 1 for n in summary.pairs.values())):
            return None
    seen = set()
    for m in xu.findall(el, SCSI_PATH):
        f = facts(m)
        if f['storage'] is None:
            continue
        key = (f['client'][0], f['storage'])
        if key in seen:
            return key
        seen.add(key)
    return None


def facts_of(m):
    """The fields of mapping element m the update checks read."""
    sa = xu.child(m, 'ServerAdapter')
    ca = xu.child(m, 'ClientAdapter')
    td = xu.child(m, 'TargetDevice')
    dev = td[0] if td is not None and len(td) else None
    st = storage_el(m)
    link = xu.child(m, 'AssociatedLogicalPartition')
    uid = stg.uuid_in_href(link.get('href') if link is not None else None)
    return {'has_td': dev is not None,
            'tdev': xu.text(dev, 'UniqueDeviceID') if dev is not None
            else None,
            'sudid': _text(sa, 'UniqueDeviceID'),
            'sslot': _text(sa, 'VirtualSlotNumber'),
            'vhost': _text(sa, 'AdapterName'),
            'tname': xu.text(dev, 'TargetName') if dev is not None
            else None,
            'lua': xu.text(dev, 'LogicalUnitAddress') if dev is not None
            else None,
            'client_uuid': uid,
            'client': ((uid or '').upper(), _text(ca, 'LocalPartitionID')),
            'cslot': _text(ca, 'VirtualSlotNumber'),
            'storage': storage_id(st) if st is not None else None,
            # Of every storage element (stg.storage_in_use).
            'udids': frozenset().union(*(
                stg.storage_udids(s) for s in xu.findall(m, 'Storage')))}


def _text(el, name):
    return xu.text(el, name) if el is not None else None


def storage_id(stg_el):
    return (xu.localname(stg_el), xu.text(stg_el, 'UniqueDeviceID') or
            xu.text(stg_el, 'MediaUDID'))


def tdev_udid(mapping):
    """The UDID of a mapping's target device (None: it has none)."""
    td = xu.child(mapping, 'TargetDevice')
    if td is None or not len(td):
        return None
    return xu.text(td[0], 'UniqueDeviceID')


def storage_el(mapping):
    """A mapping's storage element (None: none, or more than one)."""
    s = xu.child(mapping, 'Storage')
    kids = [c for c in s if isinstance(c.tag, str)] if s is not None else []
    return kids[0] if len(kids) == 1 else None
