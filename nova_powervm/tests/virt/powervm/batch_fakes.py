"""A fake PowerVM REST object for the group commit's unit tests.

Its wrappers record the changes made to them and the POSTs they make; a
test can block, refuse, fail or lose the answer of a POST.
"""
import threading
from unittest import mock

from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import entry_wrapper as ewrap


class Obj(object):
    """A REST object: its wrapper POSTs record what changes they carry."""

    def __init__(self, block_first=False):
        self.adapter = mock.Mock()
        self.posts = []          # list of change lists, one per POST
        self.gets = 0
        self.refreshes = 0       # conditional GETs
        self.lose = set()        # POSTs (1-based) made whose answer is lost
        self.fail = set()        # POSTs (1-based) refused with HTTP 500
        self.refuse = 0          # POSTs to refuse (HTTP 400, not made)
        self.in_post = threading.Event()
        self.release = threading.Event()
        if not block_first:
            self.release.set()
        self.getter = Getter(self)

    def wrapper(self, state=()):
        return Wrapper(self, state)

    def _get(self):
        self.gets += 1
        return self.wrapper(self.state())

    def state(self):
        """Every change POSTed so far."""
        return sum(self.posts, [])

    def _post(self, w):
        if self.refuse:
            self.refuse -= 1
            raise http_error(400)
        if len(self.posts) + 1 in self.fail:
            self.fail.discard(len(self.posts) + 1)
            raise http_error(500)
        self.posts.append(w.changes)
        self.posted_state = w.state + w.changes
        self.in_post.set()
        self.release.wait(5)
        if len(self.posts) in self.lose:
            # Made, and the answer lost.
            raise http_error(500)
        return self.wrapper(self.state())


def http_error(status):
    return pvm_exc.HttpError(mock.Mock(status=status, reqmethod='POST',
                                       reqpath='/VIOS/U1', body=''))


class Getter(ewrap.EntryWrapperGetter):
    """Caches its first read, as pypowervm's getter does."""

    def __init__(self, obj):
        self.obj = obj
        self.adapter = obj.adapter
        self.entry_uuid = 'U1'
        self.cache = None

    def get(self, refresh=False):
        if self.cache is None or refresh:
            self.cache = self.obj._get()
        return self.cache


class Entry(object):
    def __init__(self, obj, state):
        self.obj = obj
        self.state = state

    def __deepcopy__(self, memo=None):
        return Entry(self.obj, list(self.state))


class Wrapper(ewrap.EntryWrapper):
    """A wrapper of Obj: ``changes`` are those made to this copy."""

    schema_type = 'VIOS'
    uuid = 'U1'
    etag = 'e'

    def __init__(self, obj, state):
        self.obj = obj
        self.state = list(state)
        self.changes = []

    @property
    def adapter(self):
        return self.obj.adapter

    @property
    def entry(self):
        return Entry(self.obj, self.state + self.changes)

    @classmethod
    def wrap(cls, entry, etag=None):
        return cls(entry.obj, entry.state)

    def update(self, timeout=-1):
        return self.obj._post(self)

    def refresh(self):
        """A conditional GET: this wrapper if its state is current (304)."""
        self.obj.refreshes += 1
        if self.state == self.obj.state():
            return self
        return self.obj.wrapper(self.obj.state())


def change(name, fail=False, calls=None):
    """An idempotent change: adds ``name`` unless the wrapper has it."""
    def func(wrapper):
        if calls is not None:
            calls.append(name)
        if fail:
            raise ValueError('bad change %s' % name)
        if name in wrapper.state + wrapper.changes:
            return False
        wrapper.changes.append(name)
        return name
    return func
