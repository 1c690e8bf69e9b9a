"""Generic /rest/api/{uom,web}/... handling: feeds, entries, CRUD, search."""
import json
import re
import urllib.parse

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import events as sim_events
from nova_powervm.simulator import jobs
from nova_powervm.simulator import registry
from nova_powervm.simulator import timing
from nova_powervm.simulator import wire
from nova_powervm.simulator import xmlutil as xu

_SUFFIXES = ('do', 'quick', 'search')
_UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')
_SEARCH_RE = re.compile(r"^\((\w+)(==|!=)'?(.*?)'?\)$")
# The search keys of each root type that can be searched (pypowervm's
# wrappers' ``search_keys``: what its search() sends to the REST API).  The
# API searches no other type, no child object and no extended attribute
# group (pypowervm reads and filters the feed itself for those).
_SEARCH_KEYS = {
    'LogicalPartition': ('PartitionName', 'PartitionID'),
    'VirtualIOServer': ('PartitionName', 'PartitionID'),
    'Cluster': ('ClusterName',),
    'SharedStoragePool': ('StoragePoolName',),
}


def parse_path(path):
    """Split '/rest/api/<svc>/...' into (service, chain, suffix).

    chain is a list of (type, uuid-or-None); suffix is (kind, parm) or None.
    """
    parts = [urllib.parse.unquote(p) for p in path.split('/')[3:] if p]
    if not parts:
        raise errors.NotFound('No resource in path %s' % path)
    service, rest = parts[0], parts[1:]
    chain, suffix, i = [], None, 0
    while i < len(rest):
        seg = rest[i]
        if chain and seg in _SUFFIXES:
            suffix = (seg, '/'.join(rest[i + 1:]) or None)
            break
        if i + 1 < len(rest) and rest[i + 1] not in _SUFFIXES:
            chain.append((seg, rest[i + 1]))
            i += 2
        else:
            chain.append((seg, None))
            i += 1
    for t, uid in chain[:-1]:
        if uid is None:
            raise errors.NotFound('Malformed resource path %s' % path)
    return service, chain, suffix


def groups_of(req):
    vals = req.query.get('group')
    if not vals:
        return None
    return set(v for v in vals[0].split(',') if v)


def _resolve(sim, chain, path):
    """Walk chain; return (parent_obj, last_type, last_obj_or_None)."""
    parent = None
    obj = None
    for idx, (t, uid) in enumerate(chain):
        if not sim.store.known_type(t):
            raise errors.NotFound('Unknown resource type %s in %s' % (t, path))
        if uid is None:
            return parent, t, None
        obj = sim.store.get(t, uid)
        if obj is None or (parent is not None and obj.parent != parent.key):
            raise errors.NotFound('%s %s not found' % (t, uid))
        if idx < len(chain) - 1:
            parent = obj
    return parent, chain[-1][0], obj


def _self(req, path, groups_q):
    return path + ('?group=%s' % groups_q if groups_q is not None else '')


def handle(sim, req):
    service, chain, suffix = parse_path(req.path)
    if service not in ('uom', 'web'):
        raise errors.NotFound('Unknown service %s' % service)
    head = chain[0][0]
    if head == 'jobs':
        return jobs.handle_jobs(sim, req, chain, suffix)
    if head == 'Event' and len(chain) == 1 and chain[0][1] is None:
        if req.method == 'PUT':
            return _custom_event(sim, req)
        return _events(sim, req)
    method = req.method
    if suffix and suffix[0] == 'do':
        with sim.lock:
            parent, t, obj = _resolve(sim, chain, req.path)
        return jobs.handle_do(sim, req, t, obj, suffix[1])
    with sim.lock:
        parent, t, obj = _resolve(sim, chain, req.path)
        if method == 'GET':
            return _get(sim, req, parent, t, obj, suffix)
        if suffix:
            raise errors.SimError(405, '%s not allowed on %s' % (method,
                                                                 req.path))
        if method == 'PUT' and obj is None:
            return _create(sim, req, service, parent, t)
        if method == 'POST' and obj is not None:
            return _update(sim, req, obj)
        if method == 'DELETE' and obj is not None:
            _check_if_match(req, obj)
            sim.store.remove(obj, ctx={'req': req})
            return wire.Response(204)
    raise errors.SimError(405, 'Method %s not allowed on %s' % (method,
                                                                req.path))


def _get(sim, req, parent, t, obj, suffix):
    inv = sim.store
    groups = groups_of(req)
    groups_q = req.query.get('group', [None])[0]
    if suffix and suffix[0] == 'quick':
        if obj is None:
            return _quick_all(sim, inv, parent, t, suffix[1])
        return _quick(sim, obj, suffix[1])
    if obj is not None:
        inm = req.headers.get('If-None-Match')
        if inm and inm == obj.etag:
            return wire.Response(304, headers={'etag': obj.etag})
        return wire.xml_response(200, inv.entry(obj, groups,
                                           _self(req, req.path, groups_q)),
                            etag=obj.etag)
    cands = (inv.children(parent.key, t) if parent is not None
             else inv.of_type(t))
    base = req.path
    if suffix and suffix[0] == 'search':
        if parent is not None or groups_q not in (None, 'None'):
            raise errors.BadRequest(
                'Search is supported on root objects only, without '
                'extended attribute groups: %s' % req.path)
        cands = _search(cands, suffix[1], t)
        base = req.path[:req.path.index('/search')]
    if not cands:
        return wire.Response(204)
    entries = [inv.entry(o, groups, _self(req, '%s/%s' % (base, o.uuid),
                                           groups_q)) for o in cands]
    return wire.xml_response(200, xu.feed_bytes(
        sim.base_url + _self(req, req.path, groups_q), entries))


def _search(cands, expr, obj_type):
    m = _SEARCH_RE.match(urllib.parse.unquote(expr or ''))
    if not m:
        raise errors.BadRequest('Bad search expression %s' % expr)
    key, op, val = m.group(1), m.group(2), m.group(3)
    if key not in _SEARCH_KEYS.get(obj_type, ()):
        raise errors.BadRequest('%s cannot be searched by %s (search keys: '
                                '%s)' % (obj_type, key, ', '.join(
                                    _SEARCH_KEYS.get(obj_type, ())) or
                                    'none'))
    out = []
    for o in cands:
        found = xu.text(o.element, key)
        if found is None:
            hits = xu.descendants(o.element, key)
            found = hits[0].text if hits else None
        if (found == val) == (op == '=='):
            out.append(o)
    return out


def _jsonval(value):
    if value is None:
        return None
    if value in ('true', 'false'):
        return value == 'true'
    if re.match(r'^-?\d+$', value):
        return int(value)
    return value


def _quick_props(sim, obj):
    """An object's quick properties, cached until its next change."""
    props = obj.cache.get('quick')
    if props is not None:
        return props
    spec = registry.TYPES.get(obj.type)
    if spec is not None and spec.quick is not None:
        props = spec.quick(sim, obj)
    else:
        props = {}
        for c in obj.element:
            if isinstance(c.tag, str) and len(c) == 0:
                props[xu.localname(c)] = _jsonval(c.text)
    obj.cache['quick'] = props
    return props


def _json(data):
    return wire.Response(200, json.dumps(data).encode(),
                         {'Content-Type': 'application/json'})


def _quick(sim, obj, prop):
    props = _quick_props(sim, obj)
    if prop is not None:
        if prop not in props:
            raise errors.NotFound('No quick property %s' % prop)
        props = props[prop]
    return _json(props)


def _quick_all(sim, inv, parent, t, prop):
    """``<feed>/quick/All``: every object's quick properties (JSON list).

    Any other property name after a feed's ``quick/`` is refused.
    """
    if prop != 'All':
        raise errors.BadRequest('Quick properties of a feed are read with '
                                'quick/All, not quick/%s' % prop)
    cands = (inv.children(parent.key, t) if parent is not None
             else inv.of_type(t))
    return _json([_quick_props(sim, o) for o in cands])


def _check_media_type(req):
    ctype = req.headers.get('Content-Type') or ''
    if ctype and 'xml' not in ctype:
        raise errors.SimError(415, 'Unsupported content type %s' % ctype,
                              'Unsupported Media Type')


def _check_content_type(req, el):
    ctype = req.headers.get('Content-Type') or ''
    m = re.search(r'type=(\w+)', ctype)
    if m and m.group(1) != xu.localname(el):
        raise errors.BadRequest('Content-Type names %s but the body is %s'
                                % (m.group(1), xu.localname(el)))


def _body_element(req, expected):
    _check_media_type(req)
    el = xu.parse(req.body())
    _check_root(req, el, expected)
    return el


def _check_root(req, el, expected):
    _check_content_type(req, el)
    if xu.localname(el) != expected:
        raise errors.BadRequest('Expected a %s element, got %s'
                                % (expected, xu.localname(el)))
    if etree.QName(el).namespace not in (xu.UOM_NS, xu.WEB_NS):
        raise errors.BadRequest('Element %s is not in a PowerVM namespace'
                                % xu.localname(el))


def _check_if_match(req, obj):
    im = req.headers.get('If-Match')
    if im and im != obj.etag:
        raise errors.PreconditionFailed(
            'The etag %s of %s %s is stale (current %s)'
            % (im, obj.type, obj.uuid, obj.etag))


def _create(sim, req, service, parent, t):
    if t == 'Event':
        return _custom_event(sim, req)
    el = _body_element(req, t)
    spec = registry.register_type(t)
    if parent is not None and spec.parents and parent.type not in \
            spec.parents:
        raise errors.BadRequest('%s cannot be created under %s'
                                % (t, parent.type))
    pkey = parent.key if parent is not None else None
    if pkey is None and spec.default_parent is not None:
        pkey = spec.default_parent(sim)
    uid = xu.atom_id(el)
    if uid is None or not _UUID_RE.match(uid):
        uid = sim.new_uuid(t)
    if sim.store.find(uid) is not None:
        raise errors.SimError(409, 'An object with UUID %s exists' % uid)
    inv = sim.store
    obj = inv.add(t, uid, el, pkey, service=service, emit=False)
    ctx = {'req': req, 'parent': parent}
    try:
        if xu.atom_id(el) is None:
            md = xu.child(el, 'Metadata')
            if md is not None:
                el.remove(md)
            el.insert(0, xu.metadata(el, uid))
        for hook in spec.on_create:
            hook(sim, obj, ctx)
    except Exception:
        inv.discard(obj)
        raise
    obj.cache.clear()   # the hooks filled it in place
    xu.normalize_hrefs(obj.element, sim.base_url)
    sim.events.emit('ADD_URI', inv.href(obj), None)
    path = '%s/%s' % (req.path, uid)
    return wire.xml_response(200, inv.entry(obj, None, path), etag=obj.etag)


def _update(sim, req, obj):
    _check_if_match(req, obj)
    groups = groups_of(req)
    groups_q = req.query.get('group', [None])[0]
    fast = registry.FAST_UPDATES.get(obj.type)
    if fast is not None:
        _check_media_type(req)
        if fast(sim, obj, req, groups,
                lambda el: _check_root(req, el, obj.type)):
            return wire.xml_response(200, sim.store.entry(
                obj, groups, _self(req, req.path, groups_q)), etag=obj.etag)
    el = _body_element(req, obj.type)
    old = obj.element
    new = xu.merge_hidden(old, el, groups)
    obj.element = new
    ctx = {'req': req, 'groups': groups}
    try:
        registry.run_update_hooks(sim, obj, old, ctx)
    except Exception:
        obj.element = old
        raise
    # What the update added besides the body came from the store (whose
    # hrefs point here) or was built here.
    ours = _hrefs_ours(sim, req.body())
    sim.store.replace(obj, obj.element, normalize=not ours)
    if ours:
        # What hooks read of the new element (nothing changed it since).
        obj.cache.update(ctx.get('keep_cache') or {})
    return wire.xml_response(200, sim.store.entry(
        obj, groups, _self(req, req.path, groups_q)), etag=obj.etag)


def _hrefs_ours(sim, body):
    """Whether every ``href`` in a body is an attribute pointing here.

    A byte count instead of a walk over the parsed tree (2 MB for a VIOS
    with hundreds of mappings); anything else in doubt: False.
    """
    every, ours = xu.href_counts(body, sim.base_url)
    return every == ours


def _custom_event(sim, req):
    """PUT /rest/api/uom/Event: a client pushes an event to all listeners.

    Every listening application gets it as a CUSTOM_CLIENT_EVENT carrying
    the pushed EventData and EventDetail; the answer is the event as
    queued (server-assigned EventType and EventID).
    """
    req.body()   # stream it outside the lock
    with sim.lock:
        el = _body_element(req, 'Event')
        data = xu.text(el, 'EventData', '')
        detail = xu.text(el, 'EventDetail')
        eid = sim.events.emit('CUSTOM_CLIENT_EVENT', data, detail)
        uid = sim.new_uuid('Event')
        out = etree.Element('{%s}Event' % xu.UOM_NS,
                            nsmap={None: xu.UOM_NS},
                            attrib={'schemaVersion': 'V1_3_0'})
        xu.metadata(out, uid)
        xu.make(out, 'EventType', 'CUSTOM_CLIENT_EVENT')
        xu.make(out, 'EventID', eid)
        xu.make(out, 'EventData', data)
        xu.make(out, 'EventDetail', detail)
        return wire.xml_response(200, xu.entry_bytes(
            uid, '%s/rest/api/uom/Event/%s' % (sim.base_url, uid), None,
            etree.tostring(out), 'Event'))


def _events(sim, req):
    if req.method != 'GET':
        raise errors.SimError(405, 'Only GET on the event feed')
    appid = (req.query.get('QUEUE_APPLICATIONID') or ['default'])[0]
    with timing.waiting():
        evs = sim.events.poll(appid)   # waits: not under sim.lock
    if not evs:
        return wire.Response(204)
    with sim.lock:
        return wire.xml_response(200, sim_events.feed(sim.base_url, evs))
