"""A VIOS POST that only adds or removes SCSI mappings, applied in place.

pypowervm adds or removes a mapping by POSTing the whole VIOS back: with
hundreds of mappings, 2 MB that the ordinary update parses, matches mapping
by mapping against the stored ones, moves the stored ones into and
serializes again.  Such a body is the bytes this simulator last served for
the VIOS (its cached answer for the request's groups) with whole mappings
added or left out.  When a body differs from the served bytes only there,
and the ordinary update would keep every other mapping as stored and take
every differing one as new, the update is applied to the stored element in
place: the mappings left out are removed, the new ones (parsed alone, in
the served namespace context) inserted, the same hooks run (the SCSI one
from its matching on: the same checks, fills and refusals) and the answer
is the served bytes with those mappings' bytes replaced.  Any other body
takes the ordinary path; tests post bodies through both and compare.
"""
import bisect
import collections
import re

from lxml import etree

from nova_powervm.simulator import fc
from nova_powervm.simulator import inventory
from nova_powervm.simulator import partition
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage_scsi as scsi
from nova_powervm.simulator import storage_scsi_facts as sfacts
from nova_powervm.simulator import storage_scsi_mgmt as mgmt
from nova_powervm.simulator import xmlutil as xu

INDEX = 'scsi_index'
_MAP_TAG = '{%s}VirtualSCSIMapping' % xu.UOM_NS
_META_TAG = '{%s}Metadata' % xu.UOM_NS
_BLANK_BETWEEN_TAGS = re.compile(rb'>\s+<')
_CHUNK = 1 << 16


class _Index(object):
    """Where each stored mapping's bytes are in a served answer."""

    __slots__ = ('served', 'element', 'maps', 'lead', 'bounds', 'decls',
                 'doc', 'tdevs', 'bus_only', 'spliced', 'hrefs')

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


def _qname(el):
    return (('%s:' % el.prefix if el.prefix else '') +
            xu.localname(el)).encode()


def _bytes_in_context(m, decls, alone=None):
    """m's bytes as serialized inside its parent (None: not known).

    lxml's tostring() of an element below the root declares on it its own
    namespace and its ancestors' (``decls[m.prefix]``); inside its parent
    it does not.
    """
    out = etree.tostring(m, with_tail=False) if alone is None else alone
    head = b'<' + _qname(m)
    block = decls.get(m.prefix)
    if block is None or not out.startswith(head + block):
        return None
    rest = out[len(head) + len(block):]
    if rest[:1] not in (b' ', b'>', b'/') or rest.startswith(b' xmlns'):
        return None
    return head + rest


def _learn_bytes(m, decls, served, pos):
    """m's bytes, which ``served`` has at ``pos`` (None: it has not).

    The first element of a prefix tells what tostring() adds to it.
    """
    alone = etree.tostring(m, with_tail=False)
    if m.prefix not in decls:
        head = b'<' + _qname(m)
        tag = alone[:alone.find(b'>') + 1]
        inside = served[pos:served.find(b'>', pos) + 1]
        tail = inside[len(head):]
        if not (inside.startswith(head) and tag.startswith(head) and
                tag.endswith(tail)):
            return None
        decls[m.prefix] = tag[len(head):len(tag) - len(tail)]
    part = _bytes_in_context(m, decls, alone)
    if part is None or not served.startswith(part, pos):
        return None
    return part


def _tag_at(data, pos, name):
    """Whether a start tag of ``name`` begins at data[pos]."""
    end = pos + 1 + len(name)
    return (data.startswith(b'<' + name, pos) and
            data[end:end + 1] in (b' ', b'>', b'/', b'\t', b'\n', b'\r'))


def _build(obj, groups, served, base_url):
    """The index of ``served`` (obj's answer for groups), or None."""
    el = obj.element
    conts = xu.findall(el, 'VirtualSCSIMappings')
    if el.getparent() is not None or len(conts) != 1:
        return None
    cont = conts[0]
    kids = list(cont)
    # Its Metadata, then the mappings (nothing between).
    lead = 1 if kids and kids[0].tag == _META_TAG else 0
    maps = kids[lead:]
    if not maps or cont.text is not None or any(
            m.tail is not None for m in kids) or any(
            m.tag != _MAP_TAG for m in maps):
        return None
    if not _hidden_put_back(el, cont, groups):
        return None
    # The ordinary update would match every posted copy of a stored
    # mapping to that mapping (unique target devices; bus-only ones by a
    # unique server adapter) and keep the VFC mappings as they are.
    facts = sfacts.Facts(maps, sfacts.stored_memo(obj, el))
    tdevs, bus_only = set(), set()
    for m in maps:
        f = facts(m)
        if f['tdev']:
            if f['tdev'] in tdevs:
                return None
            tdevs.add(f['tdev'])
        elif f['tdev'] is not None or f['storage'] is not None or (
                f['sudid'] in bus_only):
            return None
        else:
            bus_only.add(f['sudid'])
    vfc = [xu.text(m, 'ServerAdapter/UniqueDeviceID')
           for m in xu.findall(el, scsi.VFC_PATH)]
    if len(set(vfc)) != len(vfc):
        return None
    # The container's start tag, once in the answer.
    cq = _qname(cont)
    at = served.find(b'<' + cq)
    while at != -1 and not _tag_at(served, at, cq):
        at = served.find(b'<' + cq, at + 1)
    if at == -1:
        return None
    nxt = served.find(b'<' + cq, at + 1)
    while nxt != -1 and not _tag_at(served, nxt, cq):
        nxt = served.find(b'<' + cq, nxt + 1)
    if nxt != -1:
        return None
    tag_end = served.find(b'>', at) + 1
    decls = {}
    c0 = tag_end
    if lead:
        part = _learn_bytes(kids[0], decls, served, c0)
        if part is None:
            return None
        c0 += len(part)
    bounds = (_bounds_by_tag(maps, decls, served, c0, cq) or
              _bounds_one_by_one(maps, decls, served, c0))
    if bounds is None or not served.startswith(b'</' + cq + b'>',
                                               bounds[-1]):
        return None
    root_tag = served[:served.find(b'>') + 1]
    if not _tag_at(root_tag, 0, _qname(el)):
        return None
    doc = (root_tag + served[at:tag_end],
           b'</' + cq + b'></' + _qname(el) + b'>')
    return _Index(served=served, element=el, maps=maps, lead=lead,
                  bounds=bounds, decls=decls, doc=doc, tdevs=tdevs,
                  bus_only=bus_only, spliced=not vfc,
                  hrefs=xu.href_counts(served, base_url))


def _bounds_one_by_one(maps, decls, served, c0):
    """Where each mapping starts in served (and the last ends), or None.

    Each one's bytes serialized alone, found in turn from c0.
    """
    bounds = [c0]
    for m in maps:
        part = _learn_bytes(m, decls, served, bounds[-1])
        if part is None:
            return None
        bounds.append(bounds[-1] + len(part))
    return bounds


def _bounds_by_tag(maps, decls, served, c0, cq):
    """_bounds_one_by_one's answer from the start tags (None: not known).

    When the container's bytes hold no comment, CDATA or processing
    instruction, every ``<`` there starts a tag: as many start tags of
    the mappings' names (prefixed) as mappings of each are theirs, in
    document order.
    """
    end = served.find(b'</' + cq + b'>', c0)
    if end == -1 or served.find(b'<!', c0, end) != -1 or served.find(
            b'<?', c0, end) != -1:
        return None
    names = [_qname(m) for m in maps]
    found = []
    for name, count in collections.Counter(names).items():
        pat, at = b'<' + name, []
        pos = served.find(pat, c0, end)
        while pos != -1:
            if _tag_at(served, pos, name):
                at.append(pos)
            pos = served.find(pat, pos + 1, end)
        if len(at) != count:
            return None
        found.extend(at)
    found.sort()
    if found[0] != c0 or any(not _tag_at(served, p, n)
                             for n, p in zip(names, found)):
        return None
    # What tostring() declares on each prefix's first mapping.
    for m, pos in zip(maps, found):
        if m.prefix not in decls and _learn_bytes(
                m, decls, served, pos) is None:
            return None
    return found + [end]


def _hidden_put_back(el, cont, groups):
    """Whether the ordinary update puts back what groups hide unchanged.

    merge_hidden puts each outermost hidden element back under the posted
    copy of its parent, replacing the first same-named child: none may
    share its name with a shown sibling, nor lie among the mappings (which
    this path moves).
    """
    if groups is None:
        return True
    done = set()
    for d in el.xpath('descendant::*[@group]'):
        if xu.visible(d.get('group'), groups):
            continue
        ancestors = list(d.iterancestors())
        if any(a in done for a in ancestors):
            continue
        if cont in ancestors:
            return False
        done.add(d)
        name = xu.localname(d)
        if any(isinstance(c.tag, str) and c is not d and
               xu.localname(c) == name and xu.visible(c.get('group'), groups)
               for c in d.getparent()):
            return False
    return True


def _index(obj, groups, served, base_url):
    """The index of obj's answer ``served`` (None: there is none).

    Built once per answer, and again if another group's answer may have
    changed the element's bytes since (inventory.MOVED).
    """
    key = (INDEX, None if groups is None else tuple(sorted(groups)))
    hit = obj.cache.get(key)
    moved = obj.cache.get(inventory.MOVED)
    if (hit is None or hit[0] is not served or hit[1] is not obj.element or
            hit[2] is not moved):
        hit = obj.cache[key] = (served, obj.element, moved,
                                _build(obj, groups, served, base_url))
    return hit[3]


def _common_prefix(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i:i + _CHUNK] == b[i:i + _CHUNK]:
        i += _CHUNK
    if i >= n:
        return n
    lo, hi = i, min(i + _CHUNK, n)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i:mid] == b[i:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a, b, limit):
    """Length of the common end of a and b (at most ``limit``)."""
    i = 0
    while i < limit:
        step = min(_CHUNK, limit - i)
        if a[len(a) - i - step:len(a) - i] != b[len(b) - i - step:
                                                len(b) - i]:
            break
        i += step
    else:
        return limit
    lo, hi = i, i + step
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:len(a) - i] == b[len(b) - mid:len(b) - i]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class Plan(object):
    """A body the in-place update applies.

    Mappings [i0, i1) of the index replaced by ``added`` (parsed, not yet
    checked).
    """

    def __init__(self, idx, groups, i0, i1, added):
        self.idx, self.groups = idx, groups
        self.i0, self.i1, self.added = i0, i1, added


def plan(sim, obj, body, groups):
    """The Plan of a VIOS update body, or None (the ordinary path)."""
    served = obj.cache.get(None if groups is None else
                           tuple(sorted(groups)))
    if served is None or not _hooks_known():
        return None
    idx = _index(obj, groups, served, sim.base_url)
    if idx is None:
        return None
    # body == served[:start] + mid + served[end:], start and end bounds of
    # mappings: the mappings between them replaced by mid's.
    i0 = bisect.bisect_right(idx.bounds, _common_prefix(served, body)) - 1
    if i0 < 0:
        return None
    start = idx.bounds[i0]
    suf = _common_suffix(served, body, min(len(served), len(body)) - start)
    i1 = bisect.bisect_left(idx.bounds, len(served) - suf)
    if i1 >= len(idx.bounds):
        return None
    mid = body[idx.bounds[i0]:len(body) - (len(served) - idx.bounds[i1])]
    # Every href of the body points here (the ordinary path's condition
    # for keeping what hooks read): the served bytes' counts, less the
    # mappings replaced, plus mid's.
    every, ours = _counts_after(idx, i0, i1, mid, sim.base_url)
    if every != ours:
        return None
    added = _parse_added(idx, mid)
    if added is None:
        return None
    return Plan(idx, groups, i0, i1, added)


def _counts_after(idx, i0, i1, mid, base_url):
    """href_counts of the served bytes with mappings [i0, i1) -> ``mid``.

    (The pieces are cut where tags start.)
    """
    gone = xu.href_counts(idx.served[idx.bounds[i0]:idx.bounds[i1]],
                          base_url)
    new = xu.href_counts(mid, base_url)
    return tuple(a - g + n for a, g, n in zip(idx.hrefs, gone, new))


def _parse_added(idx, mid):
    """The mappings of ``mid`` (whole mappings, nothing else), or None."""
    if not mid:
        return []
    if (mid[:1] != b'<' or mid[-1:] != b'>' or b'<!' in mid or
            b'<?' in mid or _BLANK_BETWEEN_TAGS.search(mid)):
        return None
    try:
        cont = xu.parse(idx.doc[0] + mid + idx.doc[1])[0]
    except xu.XMLError:
        return None
    added = list(cont)
    if cont.text is not None or any(
            m.tag != _MAP_TAG or m.tail is not None for m in added):
        return None
    for m in added:
        # One the ordinary update would match to a stored mapping.
        t = sfacts.tdev_udid(m)
        if t and t in idx.tdevs:
            return None
        if t is None and sfacts.storage_el(m) is None and xu.text(
                m, 'ServerAdapter/UniqueDeviceID') in idx.bus_only:
            return None
    return added


def _hooks_known():
    spec = reg.TYPES.get('VirtualIOServer')
    return spec is not None and sorted(map(id, spec.on_update)) == sorted(
        map(id, _HOOKS))


_HOOKS = (fc._vfc_update, partition._on_update, scsi._scsi_update,
          mgmt._after_update)


def apply(sim, obj, pl, ctx):
    """Apply a Plan to obj's stored element as the ordinary update would.

    On a refusal the element is back as it was and the error raised.
    """
    el = obj.element
    olds = pl.idx.maps
    removed = olds[pl.i0:pl.i1]
    cont = xu.child(el, 'VirtualSCSIMappings')
    at = pl.idx.lead + pl.i0
    for m in removed:
        cont.remove(m)
    for n, m in enumerate(pl.added):
        cont.insert(at + n, m)

    def put_back():
        for m in pl.added:
            cont.remove(m)
        for n, m in enumerate(removed):
            cont.insert(at + n, m)
    ctx['undo'].append(put_back)
    facts = sfacts.Facts(olds, sfacts.stored_memo(obj, el))
    # The checks count the kept mappings from the stored ones' Summary.
    kept = sfacts.take_summary(obj, el, facts)
    for m in removed:
        kept.add(facts(m), -1)
    facts.summary, facts.owner = kept, el
    facts.added, facts.removed = pl.added, removed
    try:
        for hook in reg.TYPES['VirtualIOServer'].on_update:
            if hook is scsi._scsi_update:
                # From its matching on: every stored mapping but the
                # removed ones kept, the added ones new.
                scsi.apply_mappings(sim, obj, olds, pl.added, not removed,
                                    facts, ctx)
            else:
                hook(sim, obj, el, ctx)
    except Exception:
        reg.run_undo(ctx)
        obj.cache.clear()
        raise


def _next_index(sim, obj, pl, memo):
    """The index of the answer after an applied Plan.

    Kept up to date from the Plan's (equal to a _build of the new answer,
    which the tests check).  None: the answer is serialized as usual.
    """
    idx = pl.idx
    if not idx.spliced:
        return None
    parts = []
    for m in pl.added:
        if m.xpath('descendant-or-self::*[@group]'):
            return None
        part = _bytes_in_context(m, idx.decls)
        if part is None:
            return None
        parts.append(part)
    b = idx.bounds
    new = b''.join(parts)
    # (One copy of the 2 MB: join() takes the slices as views.)
    view = memoryview(idx.served)
    served = b''.join((view[:b[pl.i0]], new, view[b[pl.i1]:]))
    delta = len(new) - (b[pl.i1] - b[pl.i0])
    bounds = b[:pl.i0 + 1]
    for part in parts:
        bounds.append(bounds[-1] + len(part))
    bounds.extend(x + delta for x in b[pl.i1 + 1:])
    maps = idx.maps[:pl.i0] + pl.added + idx.maps[pl.i1:]
    # Every mapping of the index has a unique target device, or none and
    # no storage and a unique server adapter: those of the kept ones, and
    # the added ones checked against them.
    tdevs, bus_only = set(idx.tdevs), set(idx.bus_only)
    for m in idx.maps[pl.i0:pl.i1]:
        f = sfacts.facts_of(m)
        keys = tdevs if f['tdev'] else bus_only
        key = f['tdev'] or f['sudid']
        if key not in keys:
            return None
        keys.remove(key)
    for m in pl.added:
        f = memo[id(m)][1]
        if f['tdev'] and f['tdev'] not in tdevs:
            tdevs.add(f['tdev'])
        elif (f['tdev'] is None and f['storage'] is None and
              f['sudid'] not in bus_only):
            bus_only.add(f['sudid'])
        else:
            return None
    hrefs = _counts_after(idx, pl.i0, pl.i1, new, sim.base_url)
    return _Index(served=served, element=obj.element, maps=maps,
                  lead=idx.lead, bounds=bounds, decls=idx.decls,
                  doc=idx.doc, tdevs=tdevs, bus_only=bus_only, spliced=True,
                  hrefs=hrefs)


@reg.fast_update('VirtualIOServer')
def update(sim, obj, req, groups, check):
    """POST of a VIOS through the in-place path; False: not applicable.

    ``check(el)``: the checks the ordinary path makes of the parsed body's
    root (here the served one, the body's).
    """
    pl = plan(sim, obj, req.body(), groups)
    if pl is None:
        return False
    check(obj.element)
    ctx = {'req': req, 'groups': groups, 'undo': []}
    apply(sim, obj, pl, ctx)
    keep = ctx.get('keep_cache') or {}
    memo = keep.get(sfacts.MEMO)
    nxt = _next_index(sim, obj, pl, memo[1]) if memo else None
    sim.store.replace(obj, obj.element, normalize=False)
    obj.cache.update(keep)
    if nxt is not None:
        key = None if groups is None else tuple(sorted(groups))
        obj.cache[key] = nxt.served
        obj.cache[(INDEX, key)] = (nxt.served, obj.element,
                                   obj.cache.get(inventory.MOVED), nxt)
    return True
