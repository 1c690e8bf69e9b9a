"""XML helpers: namespaces, Atom entry/feed rendering, xag filtering.

Threads: libxml2 interns names in the dictionary of the thread that made a
document, and that dictionary is not locked.  Changing a stored tree while
the thread that built it parses something else can corrupt it (seen as
"Extra content at the end of the document" on a valid body, or a crash).
So each thread parses with its own parser (``parser()``), the server does
all its XML work under ``sim.lock``, and objects a test thread creates are
built in a throw-away thread (``in_private_thread``) so that no stored tree
shares a dictionary with a thread working outside the lock.
"""
import copy
import datetime
import re
import threading
import uuid as uuidlib

from lxml import etree

ATOM_NS = 'http://www.w3.org/2005/Atom'
UOM_NS = 'http://www.ibm.com/xmlns/systems/power/firmware/uom/mc/2012_10/'
WEB_NS = 'http://www.ibm.com/xmlns/systems/power/firmware/web/mc/2012_10/'
K2_NS = 'http://www.w3.org/XML/1998/namespace/k2'

# Groups that PowerVM returns only when asked for (or with no group= at all).
EXTENDED_GROUPS = frozenset((
    'Advanced', 'EnergyManagement', 'NVRAM', 'TierThreshold',
    'ViosFCMapping', 'ViosNetwork', 'ViosSCSIMapping', 'ViosStorage', 'VNIC'))

_LOCAL = threading.local()
# Attribute-axis forms: libxml2 runs them 2x faster than '//*[@group]'.
_GROUPED = etree.XPath('descendant::*/@group/..')
_FOREIGN_HREF = etree.XPath(
    'descendant-or-self::*/@href[not(starts-with(., $here))]/..')
_HREF_RE = re.compile(r'^https?://[^/]+(/rest/api/.*)$')
_AUTHOR = ('<author><name>IBM Power Systems Management Console</name>'
           '</author>')


class XMLError(ValueError):
    """The request body is not the XML we expected."""


def parser():
    """This thread's parser (lxml parsers must not be shared)."""
    p = getattr(_LOCAL, 'parser', None)
    if p is None:
        p = _LOCAL.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_blank_text=True,
            huge_tree=True)
    return p


def mark_simulator_thread():
    """Record that this thread does its XML work under sim.lock."""
    _LOCAL.simulator = True


def in_private_thread(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a new thread; its result or exception.

    Trees built there intern their names in that thread's dictionary,
    which nothing else uses once it ends (see the module docstring).
    Simulator threads (see mark_simulator_thread) run fn directly.
    """
    if getattr(_LOCAL, 'simulator', False):
        return fn(*args, **kwargs)
    out = {}

    def run():
        mark_simulator_thread()
        try:
            out['result'] = fn(*args, **kwargs)
        except BaseException as e:  # re-raised in the caller
            out['error'] = e
    t = threading.Thread(target=run, name='powervm-simulator-xml')
    t.start()
    t.join()
    if 'error' in out:
        raise out['error']
    return out.get('result')


def parse(body):
    """Parse bytes into an element; raise XMLError on anything malformed."""
    if not body or not body.strip():
        raise XMLError('Empty request body')
    try:
        return etree.fromstring(body, parser())
    except etree.XMLSyntaxError as e:
        raise XMLError('Malformed XML: %s' % e)


def localname(el):
    # The '{ns}' prefix split off by hand: QName() costs 10x (hot path).
    return el.tag.rpartition('}')[2]


def child(el, name):
    """First direct child of el with the given local name, or None."""
    # lxml's tag filter ('{*}': any namespace or none) runs in C: a wide
    # partition has a hundred children.
    for c in el.iterchildren('{*}' + name):
        return c
    return None


def find(el, path):
    """Element at a '/'-separated path of local names below el, or None."""
    for name in path.split('/'):
        if el is None:
            return None
        el = child(el, name)
    return el


def findall(el, path):
    """All elements at a '/'-separated path of local names below el."""
    names = path.split('/')
    found = [el]
    for name in names:
        found = [c for p in found for c in p.iterchildren('{*}' + name)]
    return found


def text(el, path, default=None):
    found = find(el, path)
    if found is None or found.text is None:
        return default
    return found.text


def set_text(el, path, value, attrib=None):
    """Set the text at path (creating missing elements at the end)."""
    cur = el
    for name in path.split('/'):
        nxt = child(cur, name)
        if nxt is None:
            nxt = etree.SubElement(cur, _qname_like(cur, name),
                                   attrib=attrib or {'kb': 'ROR',
                                                     'kxe': 'false'})
        cur = nxt
    cur.text = None if value is None else str(value)
    return cur


def _qname_like(parent, name):
    ns = etree.QName(parent).namespace
    return '{%s}%s' % (ns, name) if ns else name


def href_counts(data, base_url):
    """(occurrences of ``href``, of ``href="<base_url>/rest/api/``) in data.

    Counts of disjoint pieces of a document add up when the pieces are cut
    where a tag starts (neither pattern holds a ``<``).
    """
    return (data.count(b'href'),
            data.count(('href="%s/rest/api/' % base_url).encode()))


def descendants(el, name):
    """All descendants with the given local name."""
    return [d for d in el.iter() if isinstance(d.tag, str) and
            localname(d) == name]


def make(parent, name, value=None, attrib=None):
    """Append a child element in the parent's namespace."""
    sub = etree.SubElement(parent, _qname_like(parent, name),
                           attrib=attrib if attrib is not None
                           else {'kb': 'ROR', 'kxe': 'false'})
    if value is not None:
        sub.text = str(value)
    return sub


def link(parent, name, href, attrib=None):
    att = {'kb': 'CUR', 'kxe': 'false', 'href': href, 'rel': 'related'}
    att.update(attrib or {})
    return make(parent, name, attrib=att)


def metadata(parent, atom_id=None):
    """Append a Metadata/Atom block (with AtomID if given)."""
    md = make(parent, 'Metadata', attrib={})
    atom = make(md, 'Atom', attrib={})
    if atom_id:
        make(atom, 'AtomID', atom_id, attrib={})
        make(atom, 'AtomCreated', '0', attrib={})
    return md


def atom_id(el):
    return text(el, 'Metadata/Atom/AtomID')


def normalize_hrefs(el, base):
    """Point every absolute REST href inside el at this server."""
    # Only the elements whose href does not already point here (found in
    # C: a VIOS with hundreds of mappings has thousands of elements).
    for d in _FOREIGN_HREF(el, here=base + '/rest/api/'):
        m = _HREF_RE.match(d.get('href'))
        if m:
            d.set('href', base + m.group(1))


def visible(group, groups):
    """Whether an element in xag 'group' is shown for requested groups.

    groups is None when the request had no group= (everything shown).
    """
    if group is None or groups is None or group not in EXTENDED_GROUPS:
        return True
    return 'All' in groups or group in groups


def filter_xag(el, groups):
    """Copy of el without the extended groups not requested."""
    out = copy.deepcopy(el)
    if groups is None:
        return out
    for d in out.xpath('.//*[@group]'):
        if not visible(d.get('group'), groups):
            par = d.getparent()
            if par is not None:
                par.remove(d)
    return out


def tostring_xag(el, groups):
    """Serialized el without the extended groups not requested.

    As ``tostring(filter_xag(el, groups))`` without copying the tree: the
    hidden elements are taken out for the serialization and put back
    (callers hold sim.lock, so nobody sees the tree meanwhile).
    """
    if groups is None:
        return etree.tostring(el)
    hidden = []
    for d in _GROUPED(el):
        if not visible(d.get('group'), groups):
            par = d.getparent()
            hidden.append((par, par.index(d), d))
    for par, idx, d in hidden:
        par.remove(d)
    try:
        return etree.tostring(el)
    finally:
        # In document order: each goes back among its earlier siblings.
        for par, idx, d in hidden:
            par.insert(idx, d)


def merge_hidden(stored, new, groups):
    """Carry over stored elements of groups the request hid.

    A client that read with ?group=X posts back only the groups it saw; the
    others survive the update, whatever the body says about them (pypowervm
    wrappers seed empty elements when a property is merely read). Nested
    ones too (a VIOS's FC ports' PhysicalVolumes, group ViosStorage): each
    goes back under the posted element at the same path (names and
    positions among same-named shown siblings); none if that is gone.
    """
    if groups is None:
        return new
    moves = []
    done = set()
    for d in _GROUPED(stored):
        if visible(d.get('group'), groups) or any(
                a in done for a in d.iterancestors()):
            continue
        done.add(d)
        par = _posted_parent(stored, d.getparent(), new, groups)
        if par is not None:
            moves.append((par, d.getparent().index(d), d))
    # Where each goes is found before any is put back.
    for par, idx, d in moves:
        keep = etree.fromstring(etree.tostring(d))
        sent = child(par, localname(d))
        if sent is not None:
            par.replace(sent, keep)
        else:
            par.insert(min(idx, len(par)), keep)
    return new


def _posted_parent(stored, par, new, groups):
    """The element of ``new`` at stored element par's path (or None)."""
    steps = []
    while par is not stored:
        name = localname(par)
        nth = sum(1 for s in par.itersiblings(preceding=True)
                  if isinstance(s.tag, str) and localname(s) == name and
                  visible(s.get('group'), groups))
        steps.append((name, nth))
        par = par.getparent()
        if par is None:
            return None
    at = new
    for name, nth in reversed(steps):
        same = [c for c in at if isinstance(c.tag, str) and
                localname(c) == name]
        if nth >= len(same):
            return None
        at = same[nth]
    return at


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def is_web(el):
    return etree.QName(el).namespace == WEB_NS


def entry_bytes(uid, self_href, etag, content, title, web=False):
    """Render an Atom entry around serialized content bytes."""
    etag_xml = ''
    if etag is not None:
        etag_xml = ('<etag:etag xmlns:etag="%s" xmlns="%s">%s</etag:etag>'
                    % (UOM_NS, UOM_NS, etag))
    el_type = title
    self_link = ('<link rel="SELF" href="%s"/>' % _attr(self_href)
                 if self_href else '')
    return ('<entry xmlns="%s"><id>%s</id><title>%s</title>'
            '<published>%s</published>%s%s%s'
            '<content type="%s">' % (
                ATOM_NS, uid, el_type, now(), self_link, _AUTHOR, etag_xml,
                'application/vnd.ibm.powervm.%s+xml; type=%s' % (
                    'web' if web else 'uom', el_type))).encode() + \
        content + b'</content></entry>'


def _attr(value):
    return (value.replace('&', '&amp;').replace('"', '&quot;')
            .replace('<', '&lt;'))


def feed_bytes(self_href, entries, feed_id=None):
    head = ('<feed xmlns="%s"><id>%s</id><updated>%s</updated>'
            '<link rel="SELF" href="%s"/>'
            '<generator>IBM Power Systems Management Console</generator>' % (
                ATOM_NS, feed_id or uuidlib.uuid4(), now(),
                _attr(self_href))).encode()
    return head + b''.join(entries) + b'</feed>'


def tostring(el):
    return etree.tostring(el)


def web_element(name, children=(), schema='V1_0'):
    """A WEB-namespace element with (name, text) children."""
    root = etree.Element('{%s}%s' % (WEB_NS, name), nsmap={None: WEB_NS},
                         attrib={'schemaVersion': schema})
    metadata(root)
    for cname, value in children:
        make(root, cname, value)
    return root


def error_entry(status, uri, message, reason=None):
    """HttpErrorResponse entry bytes shaped like the real API's."""
    el = web_element('HttpErrorResponse', schema='V1_2_0')
    make(el, 'HTTPStatus', status)
    make(el, 'RequestURI', uri)
    make(el, 'ReasonCode', reason or message)
    make(el, 'Message', message, attrib={'kb': 'ROO', 'kxe': 'false'})
    return entry_bytes(str(uuidlib.uuid4()), None, None, etree.tostring(el),
                       'HttpErrorResponse', web=True)
