"""Cached host network topology: virtual switches, the NovaLink partition.

Read once per adapter (a vswitch absent from the feed is looked up again
after ``_ABSENT_TTL`` seconds), so VIF plugs cost no topology requests once
warm.  ``using_vswitch`` and ``delete_unused_vswitch`` keep a vswitch that
is being given an adapter from being deleted meanwhile.
"""
import collections
import contextlib
import threading
import time
import weakref

from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import network as pvm_net

LOG = logging.getLogger(__name__)


class _HostNet(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.host_uuid = None
        self.vswitches = None   # name -> VSwitch wrapper
        self.read_at = 0.0      # when the vswitch feed was read
        self.mgmt = None        # management partition wrapper


# A vswitch absent from the feed is not looked up again for this long (s).
_ABSENT_TTL = 300

_CACHES = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()
# adapter -> _Users (kept apart from the caches: a cache reset must not
# forget them).
_USERS = weakref.WeakKeyDictionary()


class _Users(object):
    """Adapters being put on each vswitch (by name), and the lock a
    deletion holds from its check to its end.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.count = collections.Counter()


def _hostnet(adapter, host_uuid=None):
    with _CACHES_LOCK:
        cache = _CACHES.get(adapter)
        if cache is None:
            cache = _CACHES[adapter] = _HostNet()
    if host_uuid and not cache.host_uuid:
        cache.host_uuid = host_uuid
    return cache


def _host_uuid(adapter, cache):
    if not cache.host_uuid:
        cache.host_uuid = adapter.sys_uuid
    return cache.host_uuid


def host_uuid(adapter, known=None):
    """The managed system's UUID (``known`` if given, else the adapter's)."""
    return _host_uuid(adapter, _hostnet(adapter, known))


def reset_cache(adapter=None):
    """Forget cached topology (all adapters, or one)."""
    with _CACHES_LOCK:
        if adapter is None:
            _CACHES.clear()
        else:
            _CACHES.pop(adapter, None)


def get_vswitch(adapter, name, create=False, host_uuid=None):
    """The VSwitch wrapper called ``name`` (cached).

    The host's vswitch feed is read once; a name missing from it is taken as
    absent for ``_ABSENT_TTL`` seconds before the feed is read again.

    :param create: create the vswitch (VEB mode) when the host has none.
    :return: the wrapper, or None when absent and ``create`` is False.
    """
    cache = _hostnet(adapter, host_uuid)
    with cache.lock:
        if (cache.vswitches is None or (
                name not in cache.vswitches and
                time.monotonic() - cache.read_at >= _ABSENT_TTL)):
            _read_vswitches(adapter, cache)
        vsw = cache.vswitches.get(name)
        if vsw is None and create:
            LOG.info('Creating virtual switch %s.', name)
            try:
                vsw = pvm_net.VSwitch.bld(adapter, name).create(
                    parent_type=pvm_ms.System,
                    parent_uuid=_host_uuid(adapter, cache))
            except pvm_exc.HttpError:
                # Someone else may have created it meanwhile.
                _read_vswitches(adapter, cache)
                if name not in cache.vswitches:
                    raise
                vsw = cache.vswitches[name]
            cache.vswitches[name] = vsw
        return vsw


def _users(adapter):
    with _CACHES_LOCK:
        users = _USERS.get(adapter)
        if users is None:
            users = _USERS[adapter] = _Users()
        return users


@contextlib.contextmanager
def using_vswitch(adapter, name, host_uuid=None):
    """``get_vswitch(create=True)`` for putting an adapter on the vswitch:
    ``delete_unused_vswitch`` leaves it alone until the block ends.
    """
    users = _users(adapter)
    with users.lock:    # waits for a deletion under way
        users.count[name] += 1
    try:
        yield get_vswitch(adapter, name, create=True, host_uuid=host_uuid)
    finally:
        with users.lock:
            users.count[name] -= 1


def delete_unused_vswitch(adapter, name, host_uuid=None):
    """Delete vswitch ``name`` unless it is in use (an adapter is on it,
    or being put on it in ``using_vswitch``).

    :return: True if the host has no such vswitch any more.
    :raises pypowervm Error: the read or delete failed.
    """
    users, cache = _users(adapter), _hostnet(adapter, host_uuid)
    with users.lock, cache.lock:
        if users.count[name]:
            return False
        _read_vswitches(adapter, cache)
        vsw = cache.vswitches.get(name)
        if vsw is None:
            return True
        try:
            vsw.delete()
        except pvm_exc.HttpError as e:
            if getattr(e.response, 'status', None) == 409:
                LOG.info('Virtual switch %(name)s stays: %(err)s',
                         {'name': name, 'err': e})
                return False
            _read_vswitches(adapter, cache)
            if name in cache.vswitches:
                raise
        cache.vswitches.pop(name, None)
        return True


def vswitch_names(adapter):
    """{switch ID: name} of the host's vswitches (the cached feed)."""
    cache = _hostnet(adapter)
    with cache.lock:
        if cache.vswitches is None:
            _read_vswitches(adapter, cache)
        return {v.switch_id: n for n, v in cache.vswitches.items()}


def _read_vswitches(adapter, cache):
    feed = pvm_net.VSwitch.get(adapter, parent_type=pvm_ms.System,
                               parent_uuid=_host_uuid(adapter, cache))
    cache.vswitches = {vsw.name: vsw for vsw in feed}
    cache.read_at = time.monotonic()


def mgmt_partition(adapter):
    """The NovaLink partition's wrapper (read once)."""
    cache = _hostnet(adapter)
    with cache.lock:
        if cache.mgmt is None:
            cache.mgmt = pvm_par.get_mgmt_partition(adapter)
        return cache.mgmt


def mgmt_adapters(adapter):
    """The NovaLink partition's network adapters (its trunks among them)."""
    return pvm_net.CNA.get(adapter, parent=mgmt_partition(adapter))
