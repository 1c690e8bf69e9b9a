"""Pin the pypowervm behaviour ``pvm_private`` and the uploads rely on.

Against the REST simulator with the real pypowervm: a pypowervm upgrade
that changes what is relied on fails here.
"""
import time
from unittest import mock

import fixtures
from nova import test
from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import storage as tsk_stg
from pypowervm.utils import transaction as pvm_tx
from pypowervm.wrappers import cluster as pvm_clust
from pypowervm.wrappers import entry_wrapper as ewrap
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests import base as test_base
from nova_powervm.tests import event_threads
from nova_powervm.tests.simulator import base as sim_base
from nova_powervm.virt.powervm import image
from nova_powervm.virt.powervm import pvm_private


class PvmPrivateTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(event_threads.EventPollThreadsFixture())
        self.fx = self.useFixture(sim_fixture.SimulatorFixture(
            event_hold_s=0.2))
        self.sess = sim_base.session(self.fx)
        self.addCleanup(self.sess._logoff)
        self.adapter = pvm_adpt.Adapter(self.sess)


class TestSessionIdentity(PvmPrivateTestCase):

    def test_changes_exactly_on_relogon(self):
        first = pvm_private.session_identity(self.sess)
        self.assertIsNotNone(first)
        pvm_clust.Cluster.get(self.adapter)
        self.assertEqual(first, pvm_private.session_identity(self.sess))
        # The server forgets the session: pypowervm logs on again inside
        # the next request, which succeeds.
        self.fx.sim.expire_sessions()
        pvm_clust.Cluster.get(self.adapter)
        second = pvm_private.session_identity(self.sess)
        self.assertIsNotNone(second)
        self.assertNotEqual(first, second)


class TestUploadHelperContract(PvmPrivateTestCase):
    """pypowervm's public helper API, as FailedWrites uses it."""

    def test_wrapper_requests_run_through_its_adapters_helpers(self):
        seen = []

        def spy(func):
            def request(*args, **kwargs):
                seen.append(args[:2])
                return func(*args, **kwargs)
            return request
        helper = image.FailedWrites()
        rec = image.recording_adapter(pvm_adpt.Adapter(self.sess,
                                                       helpers=[spy]),
                                      helper)
        cluster = pvm_clust.Cluster.get(rec)[0]
        tier = pvm_stg.Tier.search(rec, parent_type=pvm_stg.SSP,
                                   parent_uuid=cluster.ssp_uuid,
                                   is_default=True, one_result=True)
        # Tasks use the wrapper's adapter: (method, path) positional.
        _tier, lu = tsk_stg.crt_lu(tier, 'pin_lu', 1)
        self.assertEqual('PUT', seen[-1][0])
        self.assertIn('/LogicalUnit', seen[-1][1])
        # A failed DELETE is noted with its path; a 404 is not.
        self.fx.sim.inject_fault(method='DELETE', path='LogicalUnit',
                                 status=500)
        with helper.recording() as failed:
            self.assertRaises(pvm_exc.HttpError, lu.delete)
        self.assertEqual(1, len(failed.deletes))
        self.assertTrue(failed.deletes[0].endswith('/LogicalUnit/' +
                                                   lu.uuid), failed.deletes)
        lu.delete()
        with helper.recording() as failed:
            self.assertRaises(pvm_exc.HttpNotFound, lu.delete)
        self.assertEqual([], failed.deletes)
        self.assertEqual('DELETE', seen[-1][0])
        # A failed creation is noted with the LU's name (from the body
        # pypowervm sends as the ``body`` keyword).
        self.fx.sim.inject_fault(method='PUT', path='LogicalUnit',
                                 status=500)
        with helper.recording() as failed:
            self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_lu, tier,
                              'pin_lu2', 1)
        self.assertEqual(['pin_lu2'], failed.lu_creates)


class TestVncListener(test.NoDBTestCase):
    """pypowervm's console listener registry and path map."""

    def setUp(self):
        super().setUp()
        from pypowervm.tasks import vterm
        self.vterm = vterm
        self.useFixture(fixtures.MockPatchObject(
            vterm, '_VNC_REMOTE_PORT_TO_LISTENER', {}))
        self.useFixture(fixtures.MockPatchObject(
            vterm, '_VNC_PATH_TO_UUID', {}))

    def test_remote_port_is_pypowervms(self):
        self.assertEqual(self.vterm._REMOTE_PORT,
                         pvm_private.vnc_remote_port())

    def test_dead_listener_dropped_live_one_kept(self):
        listener = self.vterm._VNCSocketListener(
            None, pvm_private.vnc_remote_port(), '127.0.0.1', True)
        # Registered by port, a Thread (never started here: not alive).
        self.vterm._VNC_REMOTE_PORT_TO_LISTENER[
            pvm_private.vnc_remote_port()] = listener
        self.assertTrue(pvm_private.revive_vnc_listener())
        self.assertEqual({}, self.vterm._VNC_REMOTE_PORT_TO_LISTENER)
        self.assertFalse(pvm_private.revive_vnc_listener())
        alive = mock.NonCallableMock(spec=['is_alive'])
        alive.is_alive.return_value = True
        self.vterm._VNC_REMOTE_PORT_TO_LISTENER[
            pvm_private.vnc_remote_port()] = alive
        self.assertFalse(pvm_private.revive_vnc_listener())
        self.assertIs(alive, self.vterm._VNC_REMOTE_PORT_TO_LISTENER[
            pvm_private.vnc_remote_port()])

    def test_forget_path(self):
        self.vterm._VNC_PATH_TO_UUID['P1'] = 'P1'
        pvm_private.forget_vnc_path('P1')
        pvm_private.forget_vnc_path('P2')
        self.assertEqual({}, self.vterm._VNC_PATH_TO_UUID)


class TestVncClientVerification(test.NoDBTestCase):

    def test_listener_module_ssl_replaced_once(self):
        from pypowervm.tasks import vterm
        import ssl
        self.useFixture(fixtures.MockPatchObject(vterm, 'ssl', ssl))
        pvm_private.verify_vnc_clients()
        shim = vterm.ssl
        self.assertIsInstance(shim, pvm_private._VerifyingSsl)
        # The rest of the module is the real one.
        self.assertIs(ssl.CERT_REQUIRED, shim.CERT_REQUIRED)
        pvm_private.verify_vnc_clients()
        self.assertIs(shim, vterm.ssl)

    def test_server_context_requires_client_certificates(self):
        import ssl
        ctx = mock.Mock()
        real = mock.Mock(PROTOCOL_TLS_SERVER=ssl.PROTOCOL_TLS_SERVER,
                         CERT_REQUIRED=ssl.CERT_REQUIRED,
                         TLSVersion=ssl.TLSVersion)
        real.SSLContext.return_value = ctx
        shim = pvm_private._VerifyingSsl(real)
        shim.wrap_socket('sock', server_side=True, ca_certs='ca',
                         certfile='crt', keyfile='key',
                         ssl_version=ssl.PROTOCOL_TLSv1_2,
                         cert_reqs=ssl.CERT_REQUIRED)
        real.SSLContext.assert_called_once_with(ssl.PROTOCOL_TLS_SERVER)
        self.assertEqual(ssl.CERT_REQUIRED, ctx.verify_mode)
        ctx.load_cert_chain.assert_called_once_with('crt', 'key')
        ctx.load_verify_locations.assert_called_once_with('ca')
        ctx.wrap_socket.assert_called_once_with('sock', server_side=True)


class _Wrapper(ewrap.EntryWrapper):
    """A wrapper whose update (POST) is recorded and returns itself."""

    uuid = 'U1'
    etag = 'e'

    def __init__(self):
        self.items = []
        self.updates = 0

    def update(self, timeout=-1):
        self.updates += 1
        return self


class _Flagless(pvm_tx.Subtask):
    """A Subtask returning true without asking for an update."""

    def execute(self, wrapper, item):
        wrapper.items.append(item)
        return True


def _add(wrapper, item, provided=None):
    wrapper.items.append((item, dict(provided or {})))
    return item


def _add_kw(wrapper, item, **kwargs):
    wrapper.items.append((item, sorted(kwargs.get('provided', {}))))
    return len(wrapper.items)


def _noop(wrapper, item):
    wrapper.items.append(item)
    return None


def _subtask_sets():
    """Lists of subtasks covering provides, provided and flag_update."""
    def functor(func, *args, **kwargs):
        return pvm_tx.WrapperTask('w', _Wrapper()).add_functor_subtask(
            func, *args, **kwargs).subtasks[0]
    return [
        [functor(_add, 'a', provides='pa'), functor(_add, 'b'),
         functor(_add_kw, 'c', provides='pc')],
        [functor(_noop, 'a', provides='pa'), _Flagless('b'),
         _Flagless('c', flag_update=True, provides='pc')],
        [functor(_noop, 'a'), _Flagless('b', flag_update=False)],
        [functor(_add, 'x', flag_update=False, provides='px'),
         functor(_add, 'y', provided={'ignored': 1})],
    ]


class TestRunSubtasks(test_base.TestCase):

    def test_as_wrappertask_runs_them(self):
        for subtasks in _subtask_sets():
            theirs = _Wrapper()
            wtask = pvm_tx.WrapperTask('pinned', theirs, subtasks=subtasks)
            _wrapper, their_provided = wtask.execute()
            ours = _Wrapper()
            changed, provided = pvm_private.run_subtasks(subtasks, ours)
            self.assertEqual(theirs.items, ours.items)
            self.assertEqual(their_provided, provided)
            self.assertEqual(theirs.updates, int(changed))
            self.assertEqual(0, ours.updates)

    @mock.patch.object(pvm_private.reflection, 'get_callable_args',
                       side_effect=pvm_private.reflection.get_callable_args)
    def test_execute_inspected_once(self, m_args):
        # Whether a subtask takes 'provided' is asked once per Subtask
        # class (its execute), not on every run.
        pvm_private._execute_takes_provided.cache_clear()
        for _ in range(3):
            pvm_private.run_subtasks([_Flagless('a'), _Flagless('b')],
                                     _Wrapper())
        self.assertEqual(1, m_args.call_count)

    def test_subtask_fields(self):
        subtask = _Flagless(1, 2, k=3, provides='p', flag_update=False)
        self.assertEqual(((1, 2), {'k': 3}, 'p', False),
                         (subtask.save_args, subtask.save_kwargs,
                          subtask.provides, subtask.flag_update))


class TestFeedTaskPublicApi(test_base.TestCase):
    """What batch.FeedTask uses of pypowervm's FeedTask."""

    def test_wrapper_tasks_of_a_read_feed(self):
        feed = [_Wrapper(), _Wrapper()]
        feed[1].uuid = 'U2'
        ftsk = pvm_tx.FeedTask('f', feed)
        ftsk.add_functor_subtask(_add, 'common')
        wtasks = ftsk.wrapper_tasks
        self.assertEqual(['U1', 'U2'], sorted(wtasks))
        wtasks['U2'].add_functor_subtask(_add, 'own')
        ftsk.add_functor_subtask(_add, 'later')
        self.assertEqual(2, len(wtasks['U1'].subtasks))
        self.assertEqual(3, len(wtasks['U2'].subtasks))
        self.assertIs(feed[0], wtasks['U1'].wrapper)
        self.assertIs(feed, ftsk.feed)

    def test_post_execute_gets_wrapper_task_rets(self):
        got = mock.Mock(return_value=None)

        class Post(pvm_tx.tf_task.Task):
            def execute(self, wrapper_task_rets):
                got(wrapper_task_rets)

        ftsk = pvm_tx.FeedTask('f', [_Wrapper()])
        ftsk.add_functor_subtask(_add, 'a', provides='pa')
        ftsk.add_post_execute(Post())
        ftsk.execute()
        rets = got.call_args[0][0]
        self.assertEqual(['U1'], list(rets))
        self.assertEqual({'pa', 'wrapper'}, set(rets['U1']))
        self.assertEqual('a', rets['U1']['pa'])


class TestReadAgain(PvmPrivateTestCase):

    def test_getter_caches_and_read_again_reads(self):
        vios_uuid = pvm_vios.VIOS.get(self.adapter)[0].uuid
        getter = pvm_vios.VIOS.getter(self.adapter, vios_uuid)
        first = getter.get()
        first.set_parm_value('PartitionName', 'changed here')
        # Cached: no new read, the changed wrapper comes back ...
        self.assertIs(first, getter.get())
        self.assertIs(first, getter.cache)
        # ... even on refresh while the server's etag is unchanged (304).
        self.assertIs(first, getter.get(refresh=True))
        again = pvm_private.read_again(getter)
        self.assertIsNot(first, again)
        self.assertNotEqual('changed here', again.name)
        self.assertEqual(vios_uuid, again.uuid)
        self.assertIs(first, getter.cache)


class _Raw(pvm_adpt.RawEventHandler):
    def __init__(self):
        self.batches = []

    def process(self, events):
        self.batches.append(events)


class _Wrapped(pvm_adpt.WrapperEventHandler):
    def __init__(self):
        self.batches = []

    def process(self, events):
        self.batches.append(events)


class TestLeanEventReads(PvmPrivateTestCase):
    """The lean poll reads and hands over what pypowervm's poll does."""

    def setUp(self):
        super().setUp()
        # Primed: its first read (NEW_CLIENT) is done.
        self.listener = self.sess.get_event_listener()
        # Not listener.shutdown(): it skips every other handler, and a test
        # subscribes two.
        self.addCleanup(event_threads.unsubscribe_all, self.listener)
        self.original = self.listener._get_events
        self.reports = []
        self.assertTrue(pvm_private.lean_event_reads(self.listener,
                                                     self.reports.append))

    def emit(self):
        bus = self.fx.sim.events
        href = (self.fx.sim.base_url + '/rest/api/uom/LogicalPartition/'
                '1F2E3D4C-0000-4000-8000-000000000001')
        bus.emit('MODIFY_URI', href, 'PartitionState')
        bus.emit('ADD_URI', href + '/ClientNetworkAdapter/x', None)
        bus.emit('MODIFY_URI', href, '')
        bus.emit('MISSING_EVENTS', '', None)

    @staticmethod
    def _no_ids(raw):
        return [dict(e, EventID=bool(e['EventID'])) for e in raw]

    def test_same_raw_events_as_pypowervm(self):
        self.emit()
        _events, theirs, wraps = self.original()
        self.assertEqual(4, len(wraps))
        self.emit()
        events, ours, none = self.listener._get_events()
        self.assertEqual(({}, []), (events, none))
        self.assertEqual(self._no_ids(theirs), self._no_ids(ours))
        self.assertEqual([None, None], [ours[1]['EventDetail'],
                                        ours[2]['EventDetail']])
        self.assertEqual([True], self.reports)
        # Installed once.
        self.assertFalse(pvm_private.lean_event_reads(self.listener,
                                                      self.reports.append))

    def test_same_request_as_pypowervm(self):
        with mock.patch.object(self.sess, 'request',
                               wraps=self.sess.request) as req:
            self.emit()
            self.original()
            self.emit()
            self.listener._get_events()
        theirs, ours = req.call_args_list
        self.assertEqual(theirs[0], ours[0])
        self.assertEqual(theirs[1]['timeout'], ours[1]['timeout'])
        self.assertEqual(theirs[1]['headers']['Accept'],
                         ours[1]['headers']['Accept'])

    def _wait_for(self, handler):
        for _ in range(500):
            if any(handler.batches):
                return [e for b in handler.batches for e in b]
            time.sleep(0.01)
        self.fail('no events dispatched')

    def test_poll_thread_dispatches_it_unless_a_wrapper_handler_listens(self):
        raw = _Raw()
        self.listener.subscribe(raw)
        self.emit()
        got = self._wait_for(raw)
        self.assertEqual('MODIFY_URI', got[0]['EventType'])
        self.assertTrue(self.reports)
        # A handler of another kind: pypowervm's own poll, which wraps,
        # from the poll after the one in flight.
        wrapped = _Wrapped()
        self.listener.subscribe(wrapped)
        for _ in range(500):
            if len(wrapped.batches) >= 2:
                break
            time.sleep(0.01)
        self.reports.clear()
        self.emit()
        got = self._wait_for(wrapped)
        self.assertEqual('MODIFY_URI', got[0].etype)
        self.assertEqual([], self.reports)

    @mock.patch('time.sleep')
    def test_failed_reads_reported_and_swallowed_as_pypowervm(self, sleep):
        def answer(status, body=''):
            return pvm_adpt.Response('GET', '/p', status, 'r', {}, body=body)
        answers = [pvm_exc.ConnectionError('down'), answer(200),
                   answer(200, '<html/>'), answer(204)]
        with mock.patch.object(self.sess, 'request', side_effect=answers):
            for _ in range(3):
                self.assertEqual(({}, [], []), self.listener._get_events())
            self.assertEqual(({}, [], []), self.listener._get_events())
        self.assertEqual([False, False, False, True], self.reports)
        sleep.assert_has_calls(3 * [mock.call(pvm_private.EVENT_RETRY_S)])
        self.assertEqual(3, sleep.call_count)
