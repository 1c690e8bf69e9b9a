"""Per-type behaviour registry (see the package docstring for the API)."""
import importlib
import pkgutil

# type name -> TypeSpec
TYPES = {}
# (type name or None, OperationName) -> handler(sim, target, params, ctx)
JOBS = {}
# list of (method, compiled regex, handler(sim, request, match))
ROUTES = []
# seed hooks: fn(sim), run in registration order after the core seed
SEEDERS = []
# snapshot hooks: name -> fn(sim) -> plain data, merged into inventory()
SNAPSHOTS = {}
# control methods: name -> fn(sim, **kwargs), exposed as Simulator.<name>
CONTROLS = {}
# type name -> fn(sim, obj, req, groups, check) -> bool (see fast_update)
FAST_UPDATES = {}

_PLUGIN_PREFIXES = ('partition', 'network', 'storage', 'fc', 'ssp')
_loaded = False


class TypeSpec(object):
    """What the simulator knows about one REST resource type."""

    def __init__(self, name, parents=(), default_parent=None):
        self.name = name
        # Types under which this one may live (child URL forms).
        self.parents = tuple(parents)
        # fn(sim) -> (type, uuid) used when created through the root URL.
        self.default_parent = default_parent
        self.on_create = []
        self.on_update = []
        self.on_delete = []
        self.quick = None        # fn(sim, obj) -> dict of quick properties
        self.uuid_upper = False  # partitions use upper-case UUIDs


def register_type(name, parents=(), default_parent=None, uuid_upper=False):
    """Declare a resource type (idempotent; later calls add parents)."""
    spec = TYPES.get(name)
    if spec is None:
        spec = TYPES[name] = TypeSpec(name, parents, default_parent)
    else:
        spec.parents = tuple(dict.fromkeys(spec.parents + tuple(parents)))
        if default_parent:
            spec.default_parent = default_parent
    if uuid_upper:
        spec.uuid_upper = True
    return spec


def _hook(kind, name):
    def deco(fn):
        getattr(register_type(name), kind).append(fn)
        return fn
    return deco


def on_create(name):
    """fn(sim, obj, ctx): fill server-side fields of a new object.

    Runs under the state lock before the object is visible; raise
    errors.SimError to reject the request (nothing is stored).
    """
    return _hook('on_create', name)


def on_update(name):
    """fn(sim, obj, old_element, ctx): after an accepted POST update.

    Run by run_update_hooks (see there for ``ctx['undo']``).
    """
    return _hook('on_update', name)


def run_update_hooks(sim, obj, old, ctx):
    """Run obj's on_update hooks; if one raises, run_undo(ctx) and re-raise.

    A hook that moves elements out of ``old`` (rather than copying them)
    appends to ``ctx['undo']`` a function putting them back.
    """
    ctx.setdefault('undo', [])
    spec = TYPES.get(obj.type)
    try:
        for hook in (spec.on_update if spec else ()):
            hook(sim, obj, old, ctx)
    except Exception:
        run_undo(ctx)
        raise


def run_undo(ctx):
    """Undo what update hooks recorded in ``ctx['undo']`` (newest first)."""
    fns = ctx.get('undo') or []
    while fns:
        fns.pop()()


def fast_update(name):
    """fn(sim, obj, req, groups, check) -> bool: a cheaper POST update.

    Tried before the ordinary update (etag and media type checked) for
    bodies whose hrefs all point here (xmlutil.href_counts equal), which
    it checks itself.  Returns False to leave the request to the ordinary
    path; True once it has stored exactly what the ordinary
    path would have (hooks run, ``sim.store.replace`` done), having called
    ``check(root)`` with the body's root element before any change and
    raised what the ordinary path would raise.
    """
    def deco(fn):
        FAST_UPDATES[name] = fn
        return fn
    return deco


def on_delete(name):
    """fn(sim, obj, ctx): before an object (and its children) is removed."""
    return _hook('on_delete', name)


def quick(name):
    """fn(sim, obj) -> dict: the /quick properties of a type."""
    def deco(fn):
        register_type(name).quick = fn
        return fn
    return deco


def job(type_name, operation):
    """fn(sim, target_obj_or_None, params, ctx) -> dict of results.

    Raise errors.JobFailure(message) for a failed job.  Return a dict of
    result parameters.  A handler may return a JobDelay(seconds, finish_fn)
    to complete later (the job stays RUNNING until then).
    """
    def deco(fn):
        JOBS[(type_name, operation)] = fn
        return fn
    return deco


def route(method, regex):
    """fn(sim, req, match) for raw paths (e.g. file upload contents)."""
    import re

    def deco(fn):
        ROUTES.append((method, re.compile(regex), fn))
        return fn
    return deco


def seeder(fn):
    """fn(sim): add default objects after the core seed."""
    SEEDERS.append(fn)
    return fn


def snapshot(name):
    """fn(sim) -> JSON-able data placed at inventory()[name]."""
    def deco(fn):
        SNAPSHOTS[name] = fn
        return fn
    return deco


def control(name):
    """fn(sim, **kw): becomes Simulator.<name> and POST /sim/admin/call/."""
    def deco(fn):
        CONTROLS[name] = fn
        return fn
    return deco


def load_plugins():
    """Import every hook module of this package (once)."""
    global _loaded
    if _loaded:
        return
    import nova_powervm.simulator as pkg
    for info in sorted(pkgutil.iter_modules(pkg.__path__),
                       key=lambda i: i.name):
        if info.name.startswith(_PLUGIN_PREFIXES):
            importlib.import_module('nova_powervm.simulator.' + info.name)
    _loaded = True
