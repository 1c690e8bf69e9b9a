"""The simulator's object store: lxml elements keyed by (type, uuid)."""
import collections
import itertools
import random
import uuid as uuidlib

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry
from nova_powervm.simulator import xmlutil as xu


# obj.cache key: which filtered serialization last moved elements (see
# Inventory.content).
MOVED = 'moved'


class Obj(object):
    """One stored REST object."""

    __slots__ = ('type', 'uuid', 'parent', 'element', 'etag', 'cache',
                 'service')

    def __init__(self, type_name, uid, element, parent, etag, service):
        self.type = type_name
        self.uuid = uid
        self.element = element
        self.parent = parent          # (type, uuid) or None
        self.etag = etag
        self.cache = {}
        self.service = service

    @property
    def key(self):
        return (self.type, self.uuid)

    def text(self, path, default=None):
        return xu.text(self.element, path, default)

    def set(self, path, value):
        self.cache.clear()
        return xu.set_text(self.element, path, value)

    def memo(self, key, fn):
        """fn(self), kept until the object changes.

        A change is touch(), set() or a new element; scans over every
        partition read such cached figures.
        """
        hit = self.cache.get(key)
        if hit is not None and hit[0] is self.element:
            return hit[1]
        val = fn(self)
        self.cache[key] = (self.element, val)
        return val

    def __repr__(self):
        return '<Obj %s %s>' % (self.type, self.uuid)


def new_uuid(upper=False):
    """A fresh UUID; partition UUIDs are upper-case with first digit < 8."""
    uid = str(uuidlib.uuid4())
    if upper:
        uid = ('%x' % random.randint(0, 7)) + uid[1:]
        return uid.upper()
    return uid


class Inventory(object):
    """All objects.  Callers hold sim.lock around any mutation.

    Indexed by key, uuid, type and parent (a host with hundreds of
    partitions is served without scanning every object); add(), discard()
    and remove() keep the indexes.
    """

    def __init__(self, sim):
        self.sim = sim
        self.objs = collections.OrderedDict()
        self.by_uuid = {}
        # type -> {key: obj}, parent key -> {key: obj} (insertion order)
        self._by_type = collections.defaultdict(dict)
        self._by_parent = collections.defaultdict(dict)
        self._etags = itertools.count(random.randint(10 ** 8, 10 ** 9))

    # ---- lookups -------------------------------------------------------
    def get(self, type_name, uid):
        return self.objs.get((type_name, uid)) or self.objs.get(
            (type_name, (uid or '').upper())) or self.objs.get(
            (type_name, (uid or '').lower()))

    def find(self, uid):
        return self.by_uuid.get(uid) or self.by_uuid.get(
            (uid or '').lower()) or self.by_uuid.get((uid or '').upper())

    def of_type(self, type_name):
        return list(self._by_type.get(type_name, {}).values())

    def children(self, parent_key, type_name=None):
        return [o for o in self._by_parent.get(parent_key, {}).values()
                if type_name is None or o.type == type_name]

    def known_type(self, type_name):
        return type_name in registry.TYPES or bool(
            self._by_type.get(type_name))

    def next_etag(self):
        return str(next(self._etags))

    # ---- hrefs ---------------------------------------------------------
    def path(self, obj):
        """Canonical REST path (parent/child form when it has a parent)."""
        svc = '/rest/api/%s/' % obj.service
        if obj.parent:
            return '%s%s/%s/%s/%s' % (svc, obj.parent[0], obj.parent[1],
                                      obj.type, obj.uuid)
        return '%s%s/%s' % (svc, obj.type, obj.uuid)

    def href(self, obj):
        return self.sim.base_url + self.path(obj)

    def root_href(self, obj):
        return '%s/rest/api/%s/%s/%s' % (self.sim.base_url, obj.service,
                                          obj.type, obj.uuid)

    # ---- mutations -----------------------------------------------------
    def add(self, type_name, uid, element, parent=None, service='uom',
            emit=True, detail=None):
        if (type_name, uid) in self.objs:
            raise errors.SimError(
                409, 'Object %s %s already exists' % (type_name, uid))
        registry.register_type(type_name)
        xu.normalize_hrefs(element, self.sim.base_url)
        obj = Obj(type_name, uid, element, parent, self.next_etag(), service)
        self.objs[obj.key] = obj
        self.by_uuid[uid] = obj
        self._by_type[type_name][obj.key] = obj
        if parent is not None:
            self._by_parent[parent][obj.key] = obj
        self._changed(type_name)
        if emit:
            self.sim.events.emit('ADD_URI', self.href(obj), detail)
        return obj

    def _changed(self, type_name):
        san = getattr(self.sim, 'san', None)
        if san is not None:
            san.changed(self.sim, type_name)

    def touch(self, obj, detail='Other', emit=True):
        """Record a change of obj: new etag, drop caches, MODIFY_URI."""
        obj.etag = self.next_etag()
        obj.cache.clear()
        self._changed(obj.type)
        if emit:
            self.sim.events.emit('MODIFY_URI', self.href(obj), detail)

    def replace(self, obj, element, detail='Other', normalize=True):
        """obj's new element (``normalize=False``: its hrefs are ours)."""
        if normalize:
            xu.normalize_hrefs(element, self.sim.base_url)
        obj.element = element
        self.touch(obj, detail)

    def remove(self, obj, ctx=None, emit=True):
        """Delete obj and (first) its children, running on_delete hooks."""
        for kid in self.children(obj.key):
            self.remove(kid, ctx, emit)
        spec = registry.TYPES.get(obj.type)
        for hook in (spec.on_delete if spec else ()):
            hook(self.sim, obj, ctx)
        href = self.href(obj)
        self.discard(obj)
        self._changed(obj.type)
        if emit:
            self.sim.events.emit('DELETE_URI', href, None)

    def discard(self, obj):
        """Drop obj from the store and its indexes (no hooks, no event)."""
        self.objs.pop(obj.key, None)
        if self.by_uuid.get(obj.uuid) is obj:
            del self.by_uuid[obj.uuid]
        self._by_type.get(obj.type, {}).pop(obj.key, None)
        if obj.parent is not None:
            kids = self._by_parent.get(obj.parent)
            if kids is not None:
                kids.pop(obj.key, None)
                if not kids:
                    del self._by_parent[obj.parent]

    def clear(self):
        self.objs.clear()
        self.by_uuid.clear()
        self._by_type.clear()
        self._by_parent.clear()

    # ---- rendering -----------------------------------------------------
    def content(self, obj, groups):
        """Serialized (xag-filtered) content element, cached per etag.

        Filtering takes the hidden elements out and puts them back, and
        lxml may give them other namespace prefixes meanwhile (the same
        XML, other bytes): ``obj.cache[MOVED]`` records that it happened.
        """
        key = None if groups is None else tuple(sorted(groups))
        data = obj.cache.get(key)
        if data is None:
            data = xu.tostring_xag(obj.element, groups)
            obj.cache[key] = data
            if groups is not None:
                obj.cache[MOVED] = (key, object())
        return data

    def entry(self, obj, groups, self_path):
        return xu.entry_bytes(obj.uuid, self.sim.base_url + self_path,
                              obj.etag, self.content(obj, groups), obj.type,
                              web=obj.service == 'web')
