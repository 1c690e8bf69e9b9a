"""Unit tests for vios_feed: a flow's VIOS feed, its changes batched."""
from unittest import mock

from pypowervm import exceptions as pvm_exc
from pypowervm.utils import transaction as pvm_tx
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests import base as test_base
from nova_powervm.tests.virt.powervm import batch_fakes as fakes
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm import tf_args
from nova_powervm.virt.powervm import vios_feed


class TestFeedTask(test_base.TestCase):

    @mock.patch('pypowervm.tasks.partition.get_active_vioses')
    def test_build_reuses_the_feed_released(self, build):
        objs = [fakes.Obj(), fakes.Obj()]
        objs[1].adapter = adpt = objs[0].adapter
        feed = [o.wrapper() for o in objs]
        feed[1].uuid = 'U2'
        build.return_value = feed
        ftsk = vios_feed.FeedTask.build(adpt, ['xag'], reuse=True)
        self.assertEqual(1, build.call_count)
        ftsk.release()
        again = vios_feed.FeedTask.build(adpt, ['xag'], reuse=True)
        self.assertEqual(1, build.call_count)
        self.assertEqual(feed, again.feed)
        # Taken by another flow: the next one reads nothing (lazy).
        lazy = vios_feed.FeedTask.build(adpt, ['xag'], reuse=True)
        self.assertEqual(['U1', 'U2'], sorted(lazy.wrapper_tasks))
        again.release()
        # Not kept for longer than _REUSE_S: read; without reuse, always.
        with mock.patch.object(batch, '_REUSE_S', 0):
            vios_feed.FeedTask.build(adpt, ['xag'], reuse=True)
        vios_feed.FeedTask.build(adpt, ['xag'])
        self.assertEqual(3, build.call_count)
        self.assertEqual(0, objs[0].gets + objs[1].gets)

    def _lazy(self, obj):
        """A lazy FeedTask over obj's VIOS (U1): its kept answer taken."""
        adpt = obj.adapter
        key = batch.vios_key('U1', ['xag'])
        vios_feed._FEEDS[adpt] = {('xag',): ['U1']}
        batch.update(key, obj.getter, fakes.change('a'), answer=None)
        self.assertEqual(1, len(batch.take_kept(adpt, [key])))
        real = pvm_vios.VIOS.getter

        def getter(adapter, entry_uuid=None, xag=None):
            if entry_uuid is None:
                return real(adapter, xag=xag)
            self.assertEqual(('U1', ['xag']), (entry_uuid, xag))
            return obj.getter
        with mock.patch.object(pvm_vios.VIOS, 'getter', side_effect=getter):
            ftsk = vios_feed.FeedTask.build(adpt, ['xag'], reuse=True)
        self.assertEqual(['U1'], list(ftsk.wrapper_tasks))
        # Its WrapperTasks' TaskFlow argument mappings are kept (tf_args).
        self.assertIsInstance(ftsk.wrapper_tasks['U1'],
                              tf_args.KeptArgMapping)
        return key, ftsk

    def test_lazy_commits_from_the_slots_answer(self):
        obj = fakes.Obj()
        key, ftsk = self._lazy(obj)
        # Another flow's change POSTed meanwhile: the slot keeps its answer.
        batch.update(key, obj.getter, fakes.change('x'), answer=None,
                     reuse=True)
        ftsk.add_functor_subtask(fakes.change('b'))
        with mock.patch.object(pvm_vios.VIOS, 'get') as get, \
                mock.patch.object(batch, '_copy', wraps=batch._copy) as cp:
            ftsk.execute()
            # The feed without a request: the answer, which the slot keeps
            # (for the next flow), shared (no copy).
            self.assertEqual(['a', 'x', 'b'], ftsk.feed[0].state)
            ftsk.release()
        get.assert_not_called()
        self.assertEqual(0, cp.call_count)
        self.assertEqual([['a'], ['x'], ['b']], obj.posts)
        # GETs for a and for x (the kept answer was taken); b from x's
        # answer after a conditional GET.
        self.assertEqual((2, 1), (obj.gets, obj.refreshes))
        self.assertIs(ftsk.feed[0], batch._SLOTS[obj.adapter][key].last)
        # The next flow's change is made to a copy: the feed is unchanged.
        batch.update(key, obj.getter, fakes.change('y'), answer=None,
                     reuse=True)
        self.assertEqual((['a', 'x', 'b'], []),
                         (ftsk.feed[0].state, ftsk.feed[0].changes))
        self.assertEqual(['a', 'x', 'b', 'y'], obj.posted_state)

    def test_feed_built_from_a_shared_answer_changes_a_copy(self):
        obj = fakes.Obj()
        key, lazy = self._lazy(obj)
        lazy.add_functor_subtask(fakes.change('b'))
        lazy.execute()
        shared = lazy.feed[0]
        # The next flow is built from the answer the slot keeps (shared).
        ftsk = vios_feed.FeedTask.build(obj.adapter, ['xag'], reuse=True)
        self.assertIs(shared, ftsk.feed[0])
        ftsk.add_functor_subtask(fakes.change('c'))
        ftsk.execute()
        self.assertEqual((['a', 'b'], []), (shared.state, shared.changes))
        self.assertEqual(['a', 'b', 'c'], obj.posted_state)
        self.assertEqual(['a', 'b', 'c'], ftsk.feed[0].state)

    def test_lazy_stale_base_loses_nothing(self):
        obj = fakes.Obj()
        key, ftsk = self._lazy(obj)
        # Another client changed the VIOS, the slot keeps nothing: a GET.
        obj.posts.append(['other'])
        ftsk.add_functor_subtask(fakes.change('b'))
        ftsk.execute()
        self.assertEqual(['a', 'other', 'b'], obj.posted_state)
        self.assertEqual(2, obj.gets)

    def test_lazy_feed_read_when_a_vios_got_no_change(self):
        obj = fakes.Obj()
        _key, ftsk = self._lazy(obj)
        fresh = obj.wrapper(['a'])
        with mock.patch.object(pvm_vios.VIOS, 'get',
                               return_value=[fresh]) as get:
            self.assertIsNone(ftsk.execute())
            self.assertEqual([fresh], ftsk.feed)
            self.assertEqual([fresh], ftsk.feed)
        get.assert_called_once_with(obj.adapter, xag=['xag'])
        self.assertEqual(1, obj.gets)

    def test_execute_reads_two_kept_vioses_in_one_feed_get(self):
        objs = [fakes.Obj(), fakes.Obj()]
        feed = [o.wrapper() for o in objs]
        feed[1].uuid = 'U2'
        fresh = [o.wrapper() for o in objs]
        fresh[1].uuid = 'U2'
        for wrapper in feed:
            setattr(wrapper, batch._KEPT, True)
        ftsk = vios_feed.FeedTask('f', feed, ['xag'])
        ftsk.add_functor_subtask(fakes.change('a'))
        bases = {}

        def update(key, getter, func, wrapper=None, **kwargs):
            bases[key[1]] = wrapper
            return wrapper, func(wrapper)
        with mock.patch.object(batch, 'update', side_effect=update), \
                mock.patch.object(fakes.Wrapper, 'get', create=True,
                                  return_value=fresh) as get:
            ftsk.execute()
        get.assert_called_once_with(objs[0].adapter, xag=['xag'])
        self.assertEqual({'U1': fresh[0], 'U2': fresh[1]}, bases)

    @mock.patch('pypowervm.tasks.partition.get_active_vioses')
    def test_build_from_the_active_vios_feed(self, build):
        # pypowervm's active VIOS read (at least one); one FeedTask built
        # (not pypowervm's build_active_vio_feed_task's as well).
        feed = [mock.Mock(spec=pvm_vios.VIOS, uuid=u) for u in ('v1', 'v2')]
        build.return_value = feed
        adpt = mock.Mock()
        built = []
        init = pvm_tx.FeedTask.__init__

        def counted(self, *args, **kwargs):
            built.append(self)
            init(self, *args, **kwargs)
        with mock.patch.object(pvm_tx.FeedTask, '__init__', counted):
            ftsk = vios_feed.FeedTask.build(adpt, ['xag'])
        build.assert_called_once_with(adpt, xag=['xag'], find_min=1)
        self.assertEqual([ftsk], built)
        self.assertIsInstance(ftsk, vios_feed.FeedTask)
        self.assertEqual('vio_feed_task', ftsk.name)
        self.assertEqual(['xag'], ftsk.xag)
        self.assertEqual(['v1', 'v2'], sorted(ftsk.wrapper_tasks))

    def test_execute_group_commits_each_vios(self):
        feed = [fakes.Obj().wrapper(), fakes.Obj().wrapper()]
        feed[1].uuid = 'U2'
        ftsk = vios_feed.FeedTask('f', feed, ['xag'])
        ftsk.add_functor_subtask(fakes.change('common'), provides='pc')

        def own(wrapper, provided=None):
            wrapper.changes.append(('own', provided['pc']))
            return True
        ftsk.wrapper_tasks['U2'].add_functor_subtask(own)
        got = {}

        class Post(pvm_tx.tf_task.Task):
            def execute(self, wrapper_task_rets):
                got.update(wrapper_task_rets)
        ftsk.add_post_execute(Post())
        calls = []

        def update(key, getter, func, wrapper=None, name=None, owned=False,
                   answer=None):
            # The feed was read for the FeedTask: handed over; the answer
            # is lent (release gives it back).
            self.assertTrue(owned)
            self.assertEqual(batch.LEND, answer)
            calls.append((key, getter.uuid, wrapper, name))
            mine = batch._copy(wrapper)
            return mine, func(mine)
        with mock.patch.object(batch, 'update', side_effect=update):
            ftsk.execute()
        self.assertEqual(
            [(('VirtualIOServer', u, ('xag',)), u, w, 'f_%s' % u)
             for u, w in (('U1', feed[0]), ('U2', feed[1]))],
            sorted(calls, key=lambda c: c[1]))
        self.assertEqual(['common'], got['U1']['wrapper'].changes)
        self.assertEqual(['common', ('own', 'common')],
                         got['U2']['wrapper'].changes)
        self.assertEqual('common', got['U1']['pc'])
        # The feed's wrappers are untouched.
        self.assertEqual(([], []), (feed[0].changes, feed[1].changes))

    def test_failed_commit_feed_read_again(self):
        obj = fakes.Obj()
        obj.refuse = 1
        spoiled = obj.wrapper()
        ftsk = vios_feed.FeedTask('f', [spoiled], ['xag'])
        ftsk.add_functor_subtask(fakes.change('a'))
        getter = mock.Mock()
        getter.get.return_value = fresh = obj.wrapper(['x'])
        with mock.patch.object(fakes.Wrapper, 'getter', create=True,
                               return_value=getter) as mk_getter:
            self.assertRaises(pvm_exc.HttpError, ftsk.execute)
            # The handed-over wrapper holds the failed change ...
            self.assertEqual(['a'], spoiled.changes)
            # ... the feed is read again instead (once).
            self.assertEqual([fresh], ftsk.feed)
            self.assertEqual([fresh], ftsk.feed)
        mk_getter.assert_called_with(obj.adapter, 'U1', xag=['xag'])
        self.assertEqual(1, getter.get.call_count)

    def test_execute_nothing_queued(self):
        ftsk = vios_feed.FeedTask('f', [fakes.Obj().wrapper()], None)
        with mock.patch.object(batch, 'update') as update:
            self.assertIsNone(ftsk.execute())
        update.assert_not_called()
