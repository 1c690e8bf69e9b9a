"""Unit tests for batch: group commit of changes to one REST object."""
import threading
import time
from unittest import mock

from lxml import etree
from oslo_utils import reflection
from pypowervm import exceptions as pvm_exc
from pypowervm.tests.test_utils import pvmhttp
from pypowervm.utils import transaction as pvm_tx
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests import base as test_base
from nova_powervm.tests.virt.powervm import batch_fakes as fakes
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm import vios_feed


class TestUpdate(test_base.TestCase):

    def _start(self, obj, name, results, fail=False, heavy=False):
        def run():
            try:
                results[name] = batch.update(('VIOS', 'U1'), obj.getter,
                                             fakes.change(name, fail),
                                             heavy=heavy)[1]
            except Exception as e:
                results[name] = e
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def test_changes_queued_during_a_post_share_the_next(self):
        obj = fakes.Obj(block_first=True)
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
        obj = fakes.Obj(block_first=True)
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
        obj = fakes.Obj()
        key = ('VolumeGroup', 'U1')
        fresh = batch.stamp(obj.wrapper(), time.monotonic())
        wrapper, result = batch.update(key, obj.getter, fakes.change('a'),
                                       wrapper=fresh)
        self.assertEqual(('a', 0), (result, obj.gets))
        self.assertEqual([['a']], obj.posts)
        # Read before that POST: it would only earn a 412.  The POST's
        # answer is newer (and a copy: the caller of 'a' keeps its own).
        stale = batch.stamp(obj.wrapper(), time.monotonic() - 10)
        batch.update(key, obj.getter, fakes.change('b'), wrapper=stale)
        self.assertEqual(0, obj.gets)
        self.assertEqual([], stale.changes)
        self.assertEqual([], wrapper.changes)
        self.assertEqual([['a'], ['b']], obj.posts)
        self.assertEqual(['a', 'b'], obj.posted_state)
        # No wrapper given (the caller may know of a change made
        # elsewhere): a GET.
        batch.update(key, obj.getter, fakes.change('c'))
        self.assertEqual(1, obj.gets)
        # That answer is too old to trust: a GET.
        stale = batch.stamp(obj.wrapper(), time.monotonic() - 10)
        with mock.patch.object(batch, '_BUSY_S', 0):
            batch.update(key, obj.getter, fakes.change('d'), wrapper=stale)
        self.assertEqual(2, obj.gets)
        self.assertEqual(['a', 'b', 'c', 'd'], obj.posted_state)

    def test_unchanged_no_post(self):
        obj = fakes.Obj()
        wrapper, result = batch.update(('x', 'U1'), obj.getter,
                                       lambda w: False)
        self.assertFalse(result)
        self.assertEqual([], obj.posts)

    def test_lost_answer_retried_on_a_fresh_read(self):
        # The POST was made and its answer lost (HTTP 500): the change is
        # retried once on a fresh read, finds itself there and POSTs
        # nothing more.
        obj = fakes.Obj()
        obj.lose = {1}
        calls = []
        wrapper, result = batch.update(('VIOS', 'U1'), obj.getter,
                                       fakes.change('a', calls=calls))
        self.assertEqual([['a']], obj.posts)
        self.assertEqual(['a', 'a'], calls)
        self.assertEqual(2, obj.gets)
        self.assertEqual(['a'], wrapper.state)
        self.assertFalse(result)

    def test_failed_post_retried_on_a_fresh_read(self):
        # An HTTP 500 that made nothing: the retry reads the object again
        # (not the getter's cached wrapper, which holds the failed try's
        # change) and makes the change.
        obj = fakes.Obj()
        obj.fail = {1}
        calls = []
        wrapper, result = batch.update(('VIOS', 'U1'), obj.getter,
                                       fakes.change('a', calls=calls))
        self.assertEqual([['a']], obj.posts)
        self.assertEqual((['a', 'a'], 2, 'a'), (calls, obj.gets, result))
        self.assertEqual(['a'], wrapper.state)

    def test_lost_answer_of_a_combined_post_duplicates_nothing(self):
        obj = fakes.Obj(block_first=True)
        results = {}
        threads = [self._start(obj, 'a', results)]
        self.assertTrue(obj.in_post.wait(5))
        obj.lose = {2}   # the POST of b, c, d: made, answer lost
        threads += [self._start(obj, n, results) for n in ('b', 'c', 'd')]
        time.sleep(0.2)
        obj.release.set()
        for thread in threads:
            thread.join(5)
        # Each alone on a fresh read found its change made: no new POST.
        self.assertEqual([['a'], ['b', 'c', 'd']], obj.posts)
        self.assertEqual(4, obj.gets)
        self.assertEqual(['a', 'b', 'c', 'd'], obj.state())
        self.assertFalse([r for r in results.values()
                          if isinstance(r, Exception)])

    def test_refused_lone_change_not_retried(self):
        # A 4xx answer: nothing was made; no retry, no GET.
        obj = fakes.Obj()
        obj.refuse = 1
        wrapper = batch.stamp(obj.wrapper(), time.monotonic())
        self.assertRaises(pvm_exc.HttpError, batch.update, ('VIOS', 'U1'),
                          obj.getter, fakes.change('a'), wrapper=wrapper)
        self.assertEqual(([], 0), (obj.posts, obj.gets))

    def test_failing_lone_change_not_retried(self):
        obj = fakes.Obj()
        calls = []
        self.assertRaises(ValueError, batch.update, ('VIOS', 'U1'), obj.getter,
                          fakes.change('a', fail=True, calls=calls))
        self.assertEqual((['a'], [], 1), (calls, obj.posts, obj.gets))

    @mock.patch.object(batch, 'FAST_COPY_S', 0)
    def test_image_copies_per_post_bounded(self):
        # Copies are never fast enough here for bigger POSTs.
        obj = fakes.Obj(block_first=True)
        results = {}
        threads = [self._start(obj, 'first', results)]
        self.assertTrue(obj.in_post.wait(5))
        heavy = ['h%d' % n for n in range(2 * batch.MAX_COPIES_PER_POST + 1)]
        for name in heavy:
            threads.append(self._start(obj, name, results, heavy=True))
        threads.append(self._start(obj, 'light', results))
        time.sleep(0.3)
        lingers = []
        real_sleep = time.sleep

        def sleep(secs):
            if secs == batch._LINGER_S:
                lingers.append(secs)
            real_sleep(secs)
        with mock.patch.object(batch.time, 'sleep', side_effect=sleep):
            obj.release.set()
            for thread in threads:
                thread.join(5)
        self.assertEqual(dict((n, n) for n in heavy + ['first', 'light']),
                         results)
        self.assertEqual(4, len(obj.posts))
        # A turn whose queue already fills a POST does not wait for more
        # changes: only the last (one copy) lingers.
        self.assertEqual(1, len(lingers))
        for posted in obj.posts[1:]:
            self.assertLessEqual(len(set(posted) & set(heavy)),
                                 batch.MAX_COPIES_PER_POST)
        # The light change did not wait behind the heavy ones.
        self.assertIn('light', obj.posts[1])
        self.assertEqual(sorted(heavy + ['first', 'light']),
                         sorted(obj.state()))

    def _heavy_burst(self, obj, count):
        """'first' (light) POSTs while ``count`` copies and a light wait."""
        results = {}
        threads = [self._start(obj, 'first', results)]
        self.assertTrue(obj.in_post.wait(5))
        heavy = ['h%d' % n for n in range(count)]
        for name in heavy:
            threads.append(self._start(obj, name, results, heavy=True))
        threads.append(self._start(obj, 'light', results))
        time.sleep(0.3)
        obj.release.set()
        for thread in threads:
            thread.join(5)
        self.assertEqual(dict((n, n) for n in heavy + ['first', 'light']),
                         results)
        return heavy

    def _copied_once(self):
        """An object whose last POST carried one copy; POSTs now block."""
        obj = fakes.Obj()
        batch.update(('VIOS', 'U1'), obj.getter, fakes.change('h'),
                     heavy=True)
        obj.release.clear()
        obj.in_post.clear()
        return obj

    def test_fast_copies_share_bigger_posts(self):
        # The last POST with a copy took under FAST_COPY_S per copy (the
        # server clones): up to MAX_FAST_COPIES_PER_POST share a POST.
        obj = self._copied_once()
        heavy = self._heavy_burst(obj, batch.MAX_FAST_COPIES_PER_POST + 2)
        self.assertEqual([['h'], ['first'], heavy[:-2] + ['light'],
                          heavy[-2:]], obj.posts)

    def test_callers_wrappers_are_their_own(self):
        obj = fakes.Obj(block_first=True)
        results = {}
        first = threading.Thread(target=batch.update, args=(
            ('VIOS', 'U1'), obj.getter, fakes.change('a')))
        first.start()
        self.assertTrue(obj.in_post.wait(5))
        mine = {n: batch.stamp(obj.wrapper(['a']), time.monotonic() + 5)
                for n in ('b', 'c')}

        def run(name):
            results[name] = batch.update(('VIOS', 'U1'), obj.getter,
                                         fakes.change(name),
                                         wrapper=mine[name])[0]
        threads = [threading.Thread(target=run, args=(n,)) for n in mine]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        obj.release.set()
        for thread in [first] + threads:
            thread.join(5)
        self.assertEqual([['a'], ['b', 'c']], obj.posts)
        # Neither caller's wrapper got any change (the base was a copy).
        self.assertEqual(([], []), (mine['b'].changes, mine['c'].changes))
        # Each got its own copy of the answer.
        self.assertIsNot(results['b'], results['c'])
        self.assertEqual(['a', 'b', 'c'], results['b'].state)
        results['b'].changes.append('x')
        self.assertEqual([], results['c'].changes)
        self.assertEqual(['a', 'b', 'c'], batch.update(
            ('VIOS', 'U1'), obj.getter, fakes.change('b'))[0].state)

    def test_lone_owned_change_copied_once(self):
        obj = fakes.Obj()
        key = ('VIOS', 'U1')
        mine = batch.stamp(obj.wrapper(), time.monotonic())
        with mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            got, result = batch.update(key, obj.getter, fakes.change('a'),
                                       wrapper=mine, owned=True)
            # The handed-over wrapper was the base (no copy); the caller
            # gets a copy of the POST's answer, the slot keeps the answer.
            self.assertEqual((['a'], 'a', 1), (mine.changes, result,
                                               cp.call_count))
            self.assertEqual(['a'], got.state)
            # A change that waited for that POST starts from the slot's
            # answer: no GET, no copy, got unchanged.
            stale = batch.stamp(obj.wrapper(), time.monotonic() - 10)
            batch.update(key, obj.getter, fakes.change('b'), wrapper=stale)
            self.assertEqual(2, cp.call_count)
        self.assertEqual((0, [], []), (obj.gets, got.changes, stale.changes))
        self.assertEqual([['a'], ['b']], obj.posts)

    def test_callers_answer_is_not_the_next_batchs_base(self):
        # A caller changes the wrapper it got back (a flow's later step,
        # not POSTed): a change that waited for that POST must not carry
        # it.  (The caller held the slot's answer itself: a concurrent
        # spawn's mapping to a disk the server never had was POSTed.)
        obj = fakes.Obj()
        key = ('VIOS', 'U1')
        mine = batch.stamp(obj.wrapper(), time.monotonic())
        got, _result = batch.update(key, obj.getter, fakes.change('a'),
                                    wrapper=mine, owned=True)
        got.changes.append('not-posted')
        stale = batch.stamp(obj.wrapper(), time.monotonic() - 10)
        batch.update(key, obj.getter, fakes.change('b'), wrapper=stale)
        self.assertEqual(['a', 'b'], obj.posted_state)
        self.assertEqual(0, obj.gets)

    def test_lone_change_not_owned_copied_twice(self):
        # The base (the caller's wrapper is left alone), then the answer.
        obj = fakes.Obj()
        mine = batch.stamp(obj.wrapper(), time.monotonic())
        with mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            got, _result = batch.update(('VIOS', 'U1'), obj.getter,
                                        fakes.change('a'), wrapper=mine)
        self.assertEqual((2, []), (cp.call_count, mine.changes))
        self.assertEqual(['a'], got.state)


class TestKept(test_base.TestCase):
    """Wrappers kept between operations (reuse, lend, give_back)."""

    def test_reuse_starts_from_the_kept_answer_refreshed(self):
        obj = fakes.Obj()
        key = ('VIOS', 'U1')
        self.assertEqual((None, 'a'), batch.update(
            key, obj.getter, fakes.change('a'), answer=None))
        self.assertEqual(1, obj.gets)
        # From the kept answer (no copy) after a conditional GET (304).
        with mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            batch.update(key, obj.getter, fakes.change('b'), answer=None,
                         reuse=True)
        self.assertEqual((1, 1, 0), (obj.gets, obj.refreshes, cp.call_count))
        # Another client changed the object: the refresh reads it again and
        # the change is made to that (the other's change is kept).
        obj.posts.append(['other'])
        batch.update(key, obj.getter, fakes.change('c'), answer=None,
                     reuse=True)
        self.assertEqual(['a', 'b', 'other', 'c'], obj.posted_state)
        self.assertEqual((1, 2), (obj.gets, obj.refreshes))
        # Not allowed to reuse, or kept too long: a GET.
        batch.update(key, obj.getter, fakes.change('d'), answer=None)
        self.assertEqual((2, 2), (obj.gets, obj.refreshes))
        with mock.patch.object(batch, '_REUSE_S', 0):
            batch.update(key, obj.getter, fakes.change('e'), reuse=True)
        self.assertEqual((3, 2), (obj.gets, obj.refreshes))
        self.assertEqual(['a', 'b', 'other', 'c', 'd', 'e'],
                         obj.posted_state)

    def test_lender_gets_the_answer_itself_and_gives_it_back(self):
        obj = fakes.Obj()
        key = ('VIOS', 'U1')
        mine = batch.stamp(obj.wrapper(), time.monotonic())
        with mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            got, _r = batch.update(key, obj.getter, fakes.change('a'),
                                   wrapper=mine, owned=True,
                                   answer=batch.LEND)
            self.assertEqual((0, ['a']), (cp.call_count, got.state))
            # The slot keeps nothing: a reuse change reads.
            batch.update(key, obj.getter, fakes.change('b'), answer=None,
                         reuse=True)
            self.assertEqual((1, 0), (obj.gets, obj.refreshes))
            # Given back after this process's later POST: refused.
            batch.give_back(obj.adapter, key, got)
            self.assertIsNot(got, batch._SLOTS[obj.adapter][key].last)
            got, _r = batch.update(key, obj.getter, fakes.change('c'),
                                   answer=batch.LEND, reuse=True)
            # Given back when done: the next reuse change starts from it.
            batch.give_back(obj.adapter, key, got)
            batch.update(key, obj.getter, fakes.change('d'), answer=None,
                         reuse=True)
            self.assertEqual(0, cp.call_count)
        self.assertEqual((1, 2), (obj.gets, obj.refreshes))
        self.assertEqual([['a'], ['b'], ['c'], ['d']], obj.posts)

    def test_lender_with_changes_waiting_gets_a_copy(self):
        obj = fakes.Obj(block_first=True)
        key = ('VIOS', 'U1')
        got = {}

        def lend():
            got['a'] = batch.update(key, obj.getter, fakes.change('a'),
                                    answer=batch.LEND)[0]
        first = threading.Thread(target=lend)
        first.start()
        self.assertTrue(obj.in_post.wait(5))
        second = threading.Thread(target=batch.update, args=(
            key, obj.getter, fakes.change('b')))
        second.start()
        time.sleep(0.2)   # b queues behind a's POST
        with mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            obj.release.set()
            first.join(5)
            second.join(5)
        # The slot kept a's answer for b (no GET); a got a copy.
        self.assertEqual(1, obj.gets)
        self.assertEqual([['a'], ['b']], obj.posts)
        self.assertEqual(['a'], got['a'].state)
        self.assertEqual([], got['a'].changes)
        self.assertEqual(2, cp.call_count)   # a's copy, b's answer copy

    def _queue_behind_a_post(self, obj, key, answers):
        """Run update(answer=...) of each (name, answer) of ``answers``.

        The first alone, the others queued behind its POST.  Returns
        {name: the wrapper update returned} and the _copy mock's calls.
        """
        got = {}

        def run(name, answer):
            got[name] = batch.update(key, obj.getter, fakes.change(name),
                                     answer=answer)[0]
        threads = [threading.Thread(target=run, args=answers[0])]
        threads[0].start()
        self.assertTrue(obj.in_post.wait(5))
        threads += [threading.Thread(target=run, args=a) for a in answers[1:]]
        for thread in threads[1:]:
            thread.start()
        time.sleep(0.2)   # queued behind the first POST
        with mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            obj.release.set()
            for thread in threads:
                thread.join(5)
        return got, cp.call_count

    def test_sharers_get_the_answer_a_later_batch_changes_a_copy(self):
        obj = fakes.Obj(block_first=True)
        key = ('VIOS', 'U1')
        got, copies = self._queue_behind_a_post(
            obj, key, [('a', batch.SHARE), ('b', batch.SHARE),
                       ('c', batch.SHARE)])
        self.assertEqual([['a'], ['b', 'c']], obj.posts)
        # b and c share the answer the slot keeps; the b+c batch started
        # from a copy of a's answer (the one copy), not a's answer.
        self.assertIs(got['b'], got['c'])
        self.assertIs(got['b'], batch._SLOTS[obj.adapter][key].last)
        self.assertEqual(1, copies)
        self.assertEqual((['a'], []), (got['a'].state, got['a'].changes))
        # A later change starts from the kept answer: a copy again.
        batch.update(key, obj.getter, fakes.change('d'), answer=None,
                     reuse=True)
        self.assertEqual((['a', 'b', 'c'], []),
                         (got['b'].state, got['b'].changes))
        self.assertEqual(['a', 'b', 'c', 'd'], obj.posted_state)
        self.assertEqual((1, 1), (obj.gets, obj.refreshes))

    def test_lender_with_a_sharer_gets_a_copy(self):
        obj = fakes.Obj(block_first=True)
        key = ('VIOS', 'U1')
        got, copies = self._queue_behind_a_post(
            obj, key, [('x', None), ('a', batch.LEND), ('b', batch.SHARE)])
        self.assertEqual([['x'], ['a', 'b']], obj.posts)
        # No change waits, but b reads the answer: a changes a copy.
        self.assertIs(got['b'], batch._SLOTS[obj.adapter][key].last)
        self.assertIsNot(got['a'], got['b'])
        self.assertEqual(1, copies)
        got['a'].changes.append('mine')
        self.assertEqual((['x', 'a', 'b'], []),
                         (got['b'].state, got['b'].changes))


def _c14n(wrapper):
    return etree.tostring(wrapper.entry.element.element, method='c14n',
                          exclusive=True)


class TestCopy(test_base.TestCase):

    def test_real_wrapper_copied_whole_and_apart(self):
        resp = pvmhttp.load_pvm_resp('fake_vios_mappings.txt').get_response()
        vios_w = pvm_vios.VIOS.wrap(resp)
        mine = batch._copy(vios_w)
        self.assertIsInstance(mine, pvm_vios.VIOS)
        self.assertIsNot(vios_w.entry.element.element,
                         mine.entry.element.element)
        # The same XML (an unused namespace declaration may be dropped).
        self.assertEqual(_c14n(vios_w), _c14n(mine))
        self.assertEqual(vios_w.etag, mine.etag)
        self.assertEqual(vios_w.uuid, mine.uuid)
        self.assertEqual(vios_w.entry.properties, mine.entry.properties)
        self.assertIs(vios_w.adapter, mine.adapter)
        # Changing the copy leaves the original alone.
        count = len(vios_w.scsi_mappings)
        mine.scsi_mappings.remove(mine.scsi_mappings[0])
        self.assertEqual(count, len(vios_w.scsi_mappings))
        self.assertEqual(count - 1, len(mine.scsi_mappings))


class TestArgMappingsKept(test_base.TestCase):
    """batch's and vios_feed's pypowervm tasks: mappings read once."""

    @staticmethod
    def _mapping(atom):
        return (atom.rebind, atom.requires, atom.optional, atom.revert_rebind,
                atom.revert_optional, atom.provides)

    @staticmethod
    def _reads(build):
        """(what ``build`` built, signature reads it made)."""
        with mock.patch('taskflow.atom.reflection.get_callable_args',
                        wraps=reflection.get_callable_args) as args:
            return build(), args.call_count

    def _check(self, ours, plain, reads_left=0):
        want, plain_reads = self._reads(plain)
        ours()   # worked out (unless an earlier test did)
        got, reads = self._reads(ours)
        self.assertEqual(reads_left, reads)
        self.assertGreater(plain_reads, reads)
        self.assertEqual(self._mapping(want), self._mapping(got))

    def test_wrapper_task(self):
        wrapper = fakes.Obj().wrapper()
        self._check(lambda: batch._WrapperTask('n', wrapper),
                    lambda: pvm_tx.WrapperTask('n', wrapper))
        self.assertIsInstance(batch._WrapperTask('n', wrapper),
                              pvm_tx.WrapperTask)

    def test_feed_task(self):
        # Its own mapping is kept; pypowervm builds an internal WrapperTask
        # of its own class (its signatures read).
        feed = [fakes.Obj().wrapper()]
        self._check(lambda: vios_feed.FeedTask('f', feed, ['xag']),
                    lambda: pvm_tx.FeedTask('f', feed), reads_left=4)
