"""A stateful simulator of the NovaLink PowerVM REST API.

It speaks the wire protocol pypowervm 1.1.27 speaks (logon, Atom feeds and
entries with the real schema, xag groups, etags, jobs, events) so the real
driver and the real pypowervm run end to end without Power hardware.
Production code never imports this package.

Modules
-------
control     Simulator: state, lifecycle and the test-control API.
fixture     SimulatorFixture for tests (hosts=N: several hosts).
san         several hosts sharing one SSP cluster (shared lock, objects and
            LU contents).
server      threaded HTTP front end (faults, latency, request log).
rest        generic CRUD / search / quick-property handling.
jobs        job template, run, poll, delete, cancel.
events      the long-polled event feed.
seed        the default host (from pypowervm's recorded data) and state
            files.
partition, network, storage*, fc*, ssp*
            per-type hook modules, imported automatically.

Extension API (for hook modules)
--------------------------------
Any module of this package whose name starts with ``partition``,
``network``, ``storage``, ``fc`` or ``ssp`` is imported when the first
Simulator is made, and registers behaviour with ``registry``:

``registry.register_type(name, parents=(...), default_parent=fn,
uuid_upper=False)``
    Declare a resource type.  ``parents`` lists the types under which it may
    be created (``PUT /<Parent>/<uuid>/<name>``); ``default_parent(sim)``
    returns the (type, uuid) parent used for root-form creates.  Objects of
    an undeclared type are still served once present in the store.

``@registry.on_create(name)`` -> ``fn(sim, obj, ctx)``
    Fill server-owned fields of a new object (called under ``sim.lock``,
    before it is visible).  Raise ``errors.SimError``/``BadRequest`` to
    reject the request; nothing is stored then.
``@registry.on_update(name)`` -> ``fn(sim, obj, old_element, ctx)``
    After an accepted POST (etag checked, hidden xag groups merged back);
    ``ctx['groups']`` is the request's xag set (None = all).  A hook that
    moves elements out of ``old_element`` instead of copying them appends
    an undo function to ``ctx['undo']`` (run if a hook fails).  What a
    hook read of the final element may go to ``ctx['keep_cache']``
    ({key: value}): put into ``obj.cache`` once the update is stored (not
    if its hrefs were rewritten), to be found there until the next change.
``@registry.fast_update(name)`` -> ``fn(sim, obj, req, groups, check)``
    A cheaper POST update tried first (see registry.fast_update); it must
    store and refuse exactly what the ordinary one would, else return
    False to leave the request to it.
``@registry.on_delete(name)`` -> ``fn(sim, obj, ctx)``
    Before removal (children are removed first, each with its hooks).
    Raise ``SimError`` to refuse.
``@registry.quick(name)`` -> ``fn(sim, obj) -> dict``  (/quick properties)
``@registry.job(type_name, operation)`` -> ``fn(sim, target, params, ctx)``
    ``target`` is the Obj the job was posted to (None for a type-level
    ``/<Type>/do/<Op>``), ``params`` the JobParameters as a dict.  Return a
    dict of result parameters (COMPLETED_OK), raise
    ``errors.JobFailure(message)``, or return
    ``errors.JobDelay(seconds, finish_fn)``.  ``type_name=None`` matches
    any type.
``@registry.route(method, regex)`` -> ``fn(sim, req, match)``
    Raw paths checked before the generic handler (authenticated), e.g. file
    upload contents: ``req.iter_body()`` streams the body; return
    ``wire.Response``.
``@registry.seeder`` -> ``fn(sim)``  add default objects after the core seed
``@registry.snapshot(name)`` -> ``fn(sim)``  data at ``inventory()[name]``
    (deterministic, JSON-able; prefer lists to tuples, since the admin API
    returns JSON)
``@registry.control(name)`` -> ``fn(sim, **kw)``
    Becomes ``Simulator.<name>(**kw)`` and
    ``POST /sim/admin/call/<name>`` (e.g. ``set_fc_target_reachable``,
    ``disk_path``).

Store API used by hooks (always under ``sim.lock``): ``sim.store.get(type,
uuid)``, ``.find(uuid)``, ``.of_type(type)``, ``.children(key, type)``,
``.add(type, uuid, element, parent_key)``, ``.touch(obj, detail)`` (new
etag + MODIFY_URI event after changing ``obj.element`` in place),
``.remove(obj)``, ``.href(obj)``; ``obj.text(path)``/``obj.set(path, v)``
with '/'-separated local names; helpers in ``xmlutil``.  ``sim.extra`` is a
dict for module state (cleared by reset()).

Threads: every piece of lxml work (parse, build, change, serialize) runs
under ``sim.lock``, and a thread a hook module starts (e.g. a timer) calls
``xmlutil.mark_simulator_thread()`` first; controls run in a throw-away
thread when called from a test.  libxml2's per-thread name dictionaries are
not locked, so breaking this rule corrupts stored trees under load (see
``xmlutil``'s docstring).
"""
