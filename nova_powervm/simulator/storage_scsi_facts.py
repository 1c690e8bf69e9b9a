"""What the VIOS update checks read of SCSI mapping elements.

A mapping's facts (target device, adapters, slots, client, storage) are a
function of its element alone.  A stored mapping keeps its element from
update to update (updates move the stored elements, they do not copy
them), so what one update read of the stored mappings is handed to the
next through the VIOS's cache (``memo``), which every other change of the
VIOS's element clears.
"""
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

    def __call__(self, m):
        """{field: value} of mapping element m."""
        if id(m) not in self._kept:
            return facts_of(m)
        got = self._memo.get(id(m))
        if got is None:
            got = self._memo[id(m)] = (m, facts_of(m))
        return got[1]

    def final(self, maps):
        """The memo of an accepted update whose mappings are ``maps``.

        Stored mappings come from the memo, new (filled) ones are read.
        """
        out = {}
        for m in maps:
            got = self._memo.get(id(m)) if id(m) in self._kept else None
            out[id(m)] = got if got is not None else (m, facts_of(m))
        return out


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
    the update is stored.
    """
    ctx.setdefault('keep_cache', {})[MEMO] = (
        obj.element, facts.final(xu.findall(obj.element, SCSI_PATH)))


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
