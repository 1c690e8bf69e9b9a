"""TaskFlow argument mappings worked out once per function.

For the driver's tasks (``tasks/base.py``) and the pypowervm transaction
tasks ``batch.py`` and ``vios_feed.py`` build (about 70 of 75 microseconds
of CPU of a WrapperTask's construction).
"""
import collections


# (function, requires, rebind, auto_extract, ignore_list, inject keys) ->
# TaskFlow's (rebind, requires, optional) for it; at most _ARG_MAPS_MAX.
_ARG_MAPS = {}
_ARG_MAPS_MAX = 512


def _frozen(value):
    """``value`` (None, a name, names or a {name: name}) as a dict key."""
    if isinstance(value, dict):
        return ('dict',) + tuple(value.items())
    if isinstance(value, (list, tuple)):
        return ('seq',) + tuple(value)
    return value


class KeptArgMapping(object):
    """Mixin for a TaskFlow atom class: its argument mapping worked out once.

    TaskFlow derives each task's inputs from the signatures of its
    ``execute`` and ``revert`` (``inspect.signature``, several times each)
    whenever a task is built, i.e. for every task of every operation; the
    answer depends only on the functions and the arguments given, so it is
    kept per function.  (It overrides TaskFlow's ``Atom._build_arg_mapping``;
    the unit tests check the mapping against TaskFlow's own.)
    """

    def _build_arg_mapping(self, executor, requires=None, rebind=None,
                           auto_extract=True, ignore_list=None):
        try:
            key = (type(executor), getattr(executor, '__func__', executor),
                   _frozen(requires), _frozen(rebind), auto_extract,
                   _frozen(ignore_list), frozenset(self.inject or ()))
            found = _ARG_MAPS.get(key)
        except TypeError:   # something unhashable: not kept
            key = found = None
        if found is None:
            found = super()._build_arg_mapping(
                executor, requires=requires, rebind=rebind,
                auto_extract=auto_extract, ignore_list=ignore_list)
            if key is not None and len(_ARG_MAPS) < _ARG_MAPS_MAX:
                _ARG_MAPS[key] = found
        rebind, required, optional = found
        # The sets are immutable; the task gets its own rebind mapping.
        return collections.OrderedDict(rebind), required, optional
