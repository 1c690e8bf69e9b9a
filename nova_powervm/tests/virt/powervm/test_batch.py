"""Unit tests for batch: group commit of changes to one REST object."""
import threading
import time
from unittest import mock

from pypowervm.wrappers import entry_wrapper as ewrap
from pypowervm.wrappers import virtual_io_server as pvm_vios
import testtools

from nova_powervm.virt.powervm import batch


class _Obj(object):
    """A REST object: its wrapper POSTs record what changes they carry."""

    def __init__(self, block_first=False):
        self.adapter = mock.Mock()
        self.posts = []          # list of change lists, one per POST
        self.gets = 0
        self.in_post = threading.Event()
        self.release = threading.Event()
        if not block_first:
            self.release.set()
        self.getter = mock.Mock(spec=ewrap.EntryWrapperGetter, uuid='U1',
                                adapter=self.adapter)
        self.getter.get.side_effect = self._get

    def wrapper(self, state=()):
        return _Wrapper(self, state)

    def _get(self):
        self.gets += 1
        return self.wrapper(self.state())

    def state(self):
        """Every change POSTed so far."""
        return sum(self.posts, [])

    def _post(self, w):
        self.posts.append(w.changes)
        self.posted_state = w.state + w.changes
        self.in_post.set()
        self.release.wait(5)
        return self.wrapper(self.state())


class _Entry(object):
    def __init__(self, obj, state):
        self.obj = obj
        self.state = state

    def __deepcopy__(self, memo=None):
        return _Entry(self.obj, list(self.state))


class _Wrapper(ewrap.EntryWrapper):
    """A wrapper of _Obj: ``changes`` are those made to this copy."""

    uuid = 'U1'
    etag = 'e'

    def __init__(self, obj, state):
        self.obj = obj
        self.state = list(state)
        self.changes = []

    @property
    def entry(self):
        return _Entry(self.obj, self.state + self.changes)

    @classmethod
    def wrap(cls, entry, etag=None):
        return cls(entry.obj, entry.state)

    def update(self, timeout=-1):
        return self.obj._post(self)


def _change(name, fail=False):
    def func(wrapper):
        if fail:
            raise ValueError('bad change %s' % name)
        wrapper.changes.append(name)
        return name
    return func


class TestUpdate(testtools.TestCase):

    def _start(self, obj, name, results, fail=False):
        def run():
            try:
                results[name] = batch.update(('VIOS', 'U1'), obj.getter,
                                             _change(name, fail))[1]
            except Exception as e:
                results[name] = e
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def test_changes_queued_during_a_post_share_the_next(self):
        obj = _Obj(block_first=True)
        results = {}
        threads = [self._start(obj, 'a', results)]
        self.assertTrue(obj.in_post.wait(5))
        threads += [self._start(obj, n, results) for n in ('b', 'c', 'd')]
        time.sleep(0.2)   # b, c, d queue behind a's POST
        obj.release.set()
        for thread in threads:
            thread.join(5)
        self.assertEqual([['a'], ['b', 'c', 'd']], obj.posts)
        self.assertEqual({'a': 'a', 'b': 'b', 'c': 'c', 'd': 'd'}, results)
        # The second POST started from the answer to the first: no GET.
        self.assertEqual(1, obj.gets)
        self.assertEqual(['a', 'b', 'c', 'd'], obj.posted_state)

    def test_failing_change_fails_alone(self):
        obj = _Obj(block_first=True)
        results = {}
        threads = [self._start(obj, 'a', results)]
        self.assertTrue(obj.in_post.wait(5))
        threads += [self._start(obj, 'bad', results, fail=True),
                    self._start(obj, 'c', results)]
        time.sleep(0.2)
        obj.release.set()
        for thread in threads:
            thread.join(5)
        # The combined change failed before any POST; each was retried
        # alone on a fresh read: only the good one was POSTed.
        self.assertEqual([['a'], ['c']], obj.posts)
        self.assertEqual('c', results['c'])
        self.assertIsInstance(results['bad'], ValueError)

    def test_callers_wrapper_used_unless_read_before_last_post(self):
        obj = _Obj()
        key = ('VolumeGroup', 'U1')
        fresh = batch.stamp(obj.wrapper(), time.monotonic())
        wrapper, result = batch.update(key, obj.getter, _change('a'),
                                       wrapper=fresh)
        self.assertEqual(('a', 0), (result, obj.gets))
        self.assertEqual([['a']], obj.posts)
        # Read before that POST: it would only earn a 412.  The POST's
        # answer is newer (and a copy: the caller of 'a' keeps its own).
        stale = batch.stamp(obj.wrapper(), time.monotonic() - 10)
        batch.update(key, obj.getter, _change('b'), wrapper=stale)
        self.assertEqual(0, obj.gets)
        self.assertEqual([], stale.changes)
        self.assertEqual([], wrapper.changes)
        self.assertEqual([['a'], ['b']], obj.posts)
        self.assertEqual(['a', 'b'], obj.posted_state)
        # No wrapper given (the caller may know of a change made
        # elsewhere): a GET.
        batch.update(key, obj.getter, _change('c'))
        self.assertEqual(1, obj.gets)
        # That answer is too old to trust: a GET.
        stale = batch.stamp(obj.wrapper(), time.monotonic() - 10)
        with mock.patch.object(batch, '_BUSY_S', 0):
            batch.update(key, obj.getter, _change('d'), wrapper=stale)
        self.assertEqual(2, obj.gets)
        self.assertEqual(['a', 'b', 'c', 'd'], obj.posted_state)

    def test_unchanged_no_post(self):
        obj = _Obj()
        wrapper, result = batch.update(('x', 'U1'), obj.getter,
                                       lambda w: False)
        self.assertFalse(result)
        self.assertEqual([], obj.posts)


class TestFeedTask(testtools.TestCase):

    @mock.patch('pypowervm.tasks.partition.build_active_vio_feed_task')
    def test_build_from_the_active_vios_feed(self, build):
        feed = [mock.Mock(spec=pvm_vios.VIOS, uuid=u) for u in ('v1', 'v2')]
        build.return_value = mock.Mock(feed=feed)
        build.return_value.name = 'vio_feed'
        ftsk = batch.FeedTask.build('adpt', ['xag'])
        build.assert_called_once_with('adpt', xag=['xag'])
        self.assertIsInstance(ftsk, batch.FeedTask)
        self.assertEqual('vio_feed', ftsk.name)
        self.assertEqual(['xag'], ftsk.xag)
        self.assertEqual(['v1', 'v2'], sorted(ftsk.wrapper_tasks))
