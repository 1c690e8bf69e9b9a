"""Unit tests for state_cache.py (partition states kept by the event feed)."""
import json
from unittest import mock

import fixtures
from nova.compute import power_state
from nova import exception as nova_exc
from nova import objects
from nova import test
from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc

from nova_powervm.virt.powervm import event
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import pvm_private
from nova_powervm.virt.powervm import state_cache

MGMT = '0A000000-0000-4000-8000-00000000000A'
HREF = 'https://h:12443/rest/api/uom/LogicalPartition/'


def _inst(n):
    return objects.Instance(uuid='%08d-0000-4000-8000-000000000000' % n)


def _pvm(n):
    return ids.pvm_uuid(_inst(n))


ALL = ('LogicalPartition', None, 'quick', 'All')


def _one(n):
    """The read of partition n's quick properties."""
    return ('LogicalPartition', _pvm(n), 'quick', None)


def _props(n, state='running', name=None):
    return {'UUID': _pvm(n), 'PartitionName': name or 'p%d' % n,
            'PartitionState': state, 'IsManagementPartition': False}


class _Host(object):
    """What the REST API answers: partition quick properties, counted."""

    def __init__(self, *numbers):
        self.parts = {_pvm(n): _props(n) for n in numbers}
        self.parts[MGMT] = {'UUID': MGMT, 'PartitionName': 'novalink',
                            'PartitionState': 'running',
                            'IsManagementPartition': True}
        self.reads = []

    def read(self, root_type, root_id=None, suffix_type=None,
             suffix_parm=None):
        self.reads.append((root_type, root_id, suffix_type, suffix_parm))
        if root_id is None:
            return mock.Mock(body=json.dumps(list(self.parts.values())))
        if root_id not in self.parts:
            raise pvm_exc.HttpError(mock.Mock(status=404, body=''))
        props = self.parts[root_id]
        return mock.Mock(body=json.dumps(
            props[suffix_parm] if suffix_parm else props))

    def set(self, n, state):
        self.parts[_pvm(n)]['PartitionState'] = state


class TestPartitionCache(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.host = _Host(1, 2, 3)
        self.adapter = mock.Mock(read=self.host.read)
        self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.mgmt.mgmt_uuid', return_value=MGMT))
        self.drv = mock.Mock(adapter=self.adapter)
        self.handler = event.PowerVMNovaEventHandler(self.drv)
        self.drv.event_handler = self.handler
        self.addCleanup(self.handler.stop)
        self.cache = self.handler.cache
        # start_listener's state: the listener's first read succeeded.
        self.cache.feed_read(True)
        self.cache.polled()

    def state(self, n):
        return state_cache.get_info(self.drv, _inst(n)).state

    def reads(self):
        out, self.host.reads[:] = list(self.host.reads), []
        return out

    def assert_read_then_cached(self, read, n, state):
        """Exactly ``read`` was requested; partition n is then cached."""
        self.assertEqual([read], self.reads())
        self.assertEqual(state, self.state(n))
        self.assertEqual([], self.reads())

    def evt(self, n, etype='MODIFY_URI', detail='PartitionState'):
        return {'EventType': etype, 'EventData': HREF + _pvm(n),
                'EventID': '1', 'EventDetail': detail}

    def test_one_read_serves_every_instance(self):
        for n in (1, 2, 3, 1, 2, 3):
            self.assertEqual(power_state.RUNNING, self.state(n))
        # One quick/All read, whatever the number of instances.
        self.assertEqual([ALL],
                         self.reads())
        self.assertEqual(['p1', 'p2', 'p3'], sorted(
            p['PartitionName'] for p in
            state_cache.partitions(self.drv).values()))
        self.assertEqual([], self.reads())

    def test_event_keeps_state_current(self):
        self.state(1)
        self.reads()
        self.host.set(2, 'not activated')
        self.handler.process([self.evt(2)])
        # The event re-read that partition only (quick properties).
        self.assert_read_then_cached(_one(2), 2, power_state.SHUTDOWN)

    def test_several_partitions_in_one_poll_read_at_once(self):
        self.state(1)
        self.reads()
        self.host.set(1, 'not activated')
        self.host.set(2, 'open firmware')
        self.host.parts[_pvm(4)] = _props(4)
        del self.host.parts[_pvm(3)]
        with mock.patch.object(self.handler, '_handle_state') as handle, \
                mock.patch.object(self.handler, '_cancel') as cancel:
            self.handler.process([self.evt(1), self.evt(2), self.evt(1),
                                  self.evt(3), self.evt(4, etype='ADD_URI')])
        # One read of every partition for the four; each handled from it
        # (3, deleted meanwhile: no state, its held-back stop cancelled).
        self.assertEqual([ALL], self.reads())
        self.assertEqual([mock.call(_pvm(1), 'not activated'),
                          mock.call(_pvm(2), 'open firmware'),
                          mock.call(_pvm(4), 'running')],
                         handle.call_args_list)
        cancel.assert_called_once_with(_pvm(3))
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual(power_state.RUNNING, self.state(4))
        self.assertNotIn(_pvm(3), state_cache.partitions(self.drv))
        self.assertEqual([], self.reads())
        # A failed read: the cache is not trusted until refilled.
        with mock.patch.object(state_cache, 'read_all',
                               side_effect=ValueError('boom')):
            self.handler.process([self.evt(1), self.evt(2)])
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual([ALL], self.reads())

    def test_read_at_once_from_more_partitions_on_a_larger_host(self):
        self.assertEqual(2, self.cache.read_all_at())
        self.host = _Host(*range(1, 200))
        self.adapter.read = self.host.read
        self.state(1)
        self.assertEqual(2 + 200 // 64, self.cache.read_all_at())
        self.reads()
        self.handler.process([self.evt(1), self.evt(2)])
        self.assertEqual([_one(1), _one(2)], self.reads())
        self.handler.process([self.evt(n) for n in range(1, 6)])
        self.assertEqual([ALL], self.reads())

    def test_events_that_cannot_change_it_cost_nothing(self):
        self.state(1)
        self.reads()
        self.handler.process([self.evt(1, detail='RMCState'),
                              {'EventType': 'MODIFY_URI', 'EventID': '2',
                               'EventData': HREF + _pvm(1) + '/Client'
                               'NetworkAdapter/x', 'EventDetail': None}])
        self.assertEqual([], self.reads())

    def test_failed_event_read_falls_back_to_fresh_reads(self):
        self.state(1)
        self.reads()
        self.cache.feed_read(False)
        self.host.set(1, 'not activated')
        # Each lookup reads that partition until the feed answers again.
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual(2 * [_one(1)],
                         self.reads())
        self.cache.feed_read(True)
        self.host.set(1, 'running')
        # A refill (the lost answer may have carried events), then cached.
        self.assertEqual(power_state.RUNNING, self.state(1))
        self.assertEqual(power_state.RUNNING, self.state(2))
        self.assertEqual([ALL],
                         self.reads())

    def test_gap_refills(self):
        self.state(1)
        self.reads()
        self.host.set(3, 'suspended')
        self.handler.process([{'EventType': 'MISSING_EVENTS',
                               'EventData': '', 'EventID': '9',
                               'EventDetail': None}])
        self.assert_read_then_cached(ALL, 3, power_state.SUSPENDED)

    def test_gap_and_events_in_one_batch_read_once(self):
        # The refill reads every partition after the batch's events: no
        # partition is read again for its own event.
        self.state(1)
        self.reads()
        self.host.set(2, 'not activated')
        self.handler.process([self.evt(2), self.evt(3, etype='ADD_URI'),
                              {'EventType': 'CACHE_CLEARED',
                               'EventData': '', 'EventID': '9',
                               'EventDetail': None}])
        self.assert_read_then_cached(ALL, 2, power_state.SHUTDOWN)
        # A failed refill leaves the events to their own reads.
        self.host.set(1, 'not activated')
        with mock.patch.object(state_cache, 'read_all',
                               side_effect=ValueError('boom')):
            self.handler.process([self.evt(1), {
                'EventType': 'MISSING_EVENTS', 'EventData': '',
                'EventID': '10', 'EventDetail': None}])
        self.assertEqual([_one(1)],
                         self.reads())

    def test_failed_batch_refills(self):
        self.state(1)
        self.reads()
        with mock.patch.object(self.handler, '_state_changed',
                               side_effect=ValueError('boom')):
            self.handler.process([self.evt(1)])
        self.host.set(1, 'not activated')
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual([ALL],
                         self.reads())

    def test_silent_listener_not_trusted(self):
        self.state(1)
        self.reads()
        self.useFixture(fixtures.MockPatchObject(state_cache,
                                                 'STALE_AFTER_S', 0))
        self.host.set(1, 'not activated')
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual([_one(1)],
                         self.reads())

    def test_partition_being_changed_read_fresh(self):
        self.state(1)
        self.reads()
        self.cache.begin(_pvm(1))
        self.host.set(1, 'starting')
        self.assertEqual(power_state.RUNNING, self.state(1))
        self.host.set(1, 'not activated')
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual(2, len(self.reads()))
        self.cache.end(_pvm(1))
        # Read once after the change, then cached.
        self.state(1)
        self.state(1)
        self.assertEqual(1, len(self.reads()))

    def test_events_of_a_partition_being_changed_read_after(self):
        self.state(1)
        self.reads()
        self.cache.begin(_pvm(1))
        self.cache.begin(_pvm(1))   # two operations
        self.host.set(1, 'starting')
        self.handler.process([self.evt(1)])
        self.handler.process([self.evt(1), self.evt(2)])
        # The other partition's event is read at once.
        self.assertEqual([_one(2)], self.reads())
        self.cache.end(_pvm(1))
        self.handler.process([])
        self.assertEqual([], self.reads())
        self.host.set(1, 'running')
        self.cache.end(_pvm(1))
        with mock.patch.object(self.handler, '_handle_state') as handle:
            self.handler.process([])   # the next poll, even an empty one
        self.assertEqual([_one(1)], self.reads())
        handle.assert_called_once_with(_pvm(1), 'running')
        self.handler.process([self.evt(2)])
        self.assertEqual([_one(2)], self.reads())
        self.assertEqual(power_state.RUNNING, self.state(1))

    def test_partition_read_after_the_change_not_read_for_its_events(self):
        self.state(1)
        self.reads()
        self.cache.begin(_pvm(1))
        self.host.set(1, 'starting')
        self.handler.process([self.evt(1)])
        self.cache.end(_pvm(1))
        self.host.set(1, 'not activated')
        # nova reads the power state after the operation: fresh.
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.assertEqual([_one(1)], self.reads())
        with mock.patch.object(self.handler, '_handle_state') as handle:
            self.handler.process([])
        # Its deferred event is handled from that read, not read again.
        self.assertEqual([], self.reads())
        handle.assert_called_once_with(_pvm(1), 'not activated')
        # Deleted after the change: nothing to handle.
        self.cache.begin(_pvm(2))
        self.handler.process([self.evt(2)])
        self.cache.end(_pvm(2))
        self.handler.process([self.evt(2, etype='DELETE_URI', detail=None)])
        with mock.patch.object(self.handler, '_handle_state') as handle:
            self.handler.process([])
        self.assertEqual([], self.reads())
        handle.assert_not_called()

    def test_read_started_before_the_change_ended_not_trusted(self):
        self.state(1)
        self.reads()
        self.cache.begin(_pvm(1))
        self.host.set(1, 'not activated')
        read = self.host.read

        def answered_then_changed(*args, **kwargs):
            resp = read(*args, **kwargs)
            self.host.set(1, 'running')
            self.cache.end(_pvm(1))
            return resp
        self.adapter.read = answered_then_changed
        self.assertEqual(power_state.SHUTDOWN, self.state(1))
        self.adapter.read = read
        # That answer predates the change's end: the next lookup reads.
        self.assertEqual(power_state.RUNNING, self.state(1))
        self.assertEqual([_one(1), _one(1)], self.reads())
        self.assertEqual(power_state.RUNNING, self.state(1))
        self.assertEqual([], self.reads())

    def test_refill_after_the_change_trusted(self):
        self.state(1)
        self.cache.begin(_pvm(1))
        self.cache.end(_pvm(1))
        self.cache.refill()
        self.reads()
        self.assertEqual(power_state.RUNNING, self.state(1))
        self.assertEqual([], self.reads())

    def test_partition_deleted_while_changed_not_read(self):
        self.state(1)
        self.reads()
        self.cache.begin(_pvm(1))
        self.handler.process([self.evt(1)])
        del self.host.parts[_pvm(1)]
        self.handler.process([self.evt(1, etype='DELETE_URI', detail=None)])
        self.cache.end(_pvm(1))
        self.handler.process([])
        self.assertEqual([], self.reads())

    def test_changes_partition_decorator(self):
        seen = []

        class Drv(object):
            event_handler = self.handler

            @state_cache.changes_partition
            def power_on(self, context, instance, network_info):
                seen.append(dict(self.event_handler.cache._busy))

        Drv().power_on('ctx', instance=_inst(1), network_info=[])
        self.assertEqual([{_pvm(1): 1}], seen)
        self.assertEqual({}, self.cache._busy)
        self.assertIn(_pvm(1), self.cache._dirty)
        self.assertEqual(_inst(1).uuid, self.handler._uuids[_pvm(1)])

    def test_unknown_and_deleted_partitions(self):
        self.state(1)
        self.reads()
        self.assertRaises(nova_exc.InstanceNotFound, self.state, 7)
        self.assertEqual([_one(7)],
                         self.reads())
        del self.host.parts[_pvm(2)]
        self.handler.process([self.evt(2, etype='DELETE_URI', detail=None)])
        self.assertEqual([], self.reads())
        self.assertRaises(nova_exc.InstanceNotFound, self.state, 2)
        self.assertNotIn(_pvm(2), state_cache.partitions(self.drv))

    def test_older_read_never_replaces_newer(self):
        seq_old = next(self.cache._seq)
        seq_new = next(self.cache._seq)
        self.cache._store(seq_new, 'U', {'PartitionState': 'running'})
        self.cache._store(seq_old, 'U', {'PartitionState': 'error'})
        self.assertEqual('running', self.cache._parts['U'][1][
            'PartitionState'])

    def test_deleted_partitions_pruned(self):
        self.useFixture(fixtures.MockPatchObject(state_cache, 'PRUNE_AT', 8))
        self.cache._prune_at = 8
        self.state(1)
        self.cache.begin('BUSY')
        for n in range(20):
            self.cache.forget('GONE%d' % n)
        self.cache.forget('BUSY')
        # The deleted ones are dropped (a bounded number left), live ones
        # kept; a deleted partition being changed is still read fresh.
        self.assertLessEqual(len(self.cache._parts), 8 + 3)
        self.assertEqual({_pvm(1), _pvm(2), _pvm(3)},
                         {u for u, (s, p) in self.cache._parts.items() if p})
        self.assertEqual({'BUSY'}, set(self.cache._dirty))
        self.assertEqual(set(), self.cache._reading)

    def test_prune_keeps_what_a_read_in_flight_races(self):
        self.useFixture(fixtures.MockPatchObject(state_cache, 'PRUNE_AT', 2))
        self.cache._prune_at = 2
        self.state(1)
        self.reads()
        # A refresh of partition 2 started, then its delete event came.
        old = self.cache._start_read()
        self.cache.forget(_pvm(2))
        for n in range(10):
            self.cache.forget('GONE%d' % n)
        self.assertIsNone(self.cache._parts[_pvm(2)][1])
        # The stale answer does not bring the partition back.
        with self.cache._lock:
            self.cache._reading.discard(old)
            self.cache._store(old, _pvm(2), _props(2))
        self.assertIsNone(self.cache._parts[_pvm(2)][1])
        self.assertNotIn(_pvm(2), state_cache.partitions(self.drv))
        # Without a read in flight it goes at the next prune.
        for n in range(20):
            self.cache.forget('LAST%d' % n)
        self.assertNotIn(_pvm(2), self.cache._parts)

    def test_no_listener_reads_each_time(self):
        self.drv.event_handler = None
        self.state(1)
        self.state(1)
        self.assertEqual(2, len(self.reads()))

    def test_read_all_leaves_out_the_management_partition(self):
        parts = state_cache.read_all(self.adapter)
        self.assertEqual(sorted(_pvm(n) for n in (1, 2, 3)), sorted(parts))


class TestWatchEventReads(test.NoDBTestCase):

    def test_reports_each_read(self):
        got = []
        listener = mock.Mock()
        read = listener.adp.read
        self.assertTrue(pvm_private.watch_event_reads(listener, got.append))
        self.assertIs(read.return_value, listener.adp.read('Event'))
        read.side_effect = pvm_exc.ConnectionError('down')
        self.assertRaises(pvm_exc.ConnectionError, listener.adp.read, 'Ev')
        self.assertEqual([True, False], got)
        self.assertFalse(pvm_private.watch_event_reads(object(), got.append))

    @mock.patch('time.sleep')
    def test_pypowervm_polls_through_its_adapter(self, sleep):
        # Pins pypowervm: the poll reads through listener.adp.read and
        # swallows a failed read (an empty batch follows, as after an idle
        # poll), so only the watcher sees the failure.
        listener = pvm_adpt._EventListener.__new__(pvm_adpt._EventListener)
        listener.appid = 'app'
        listener.timeout = 5
        inner = mock.Mock(side_effect=pvm_exc.ConnectionError('x'))
        listener.adp = mock.Mock(read=inner)
        got = []
        pvm_private.watch_event_reads(listener, got.append)
        self.assertEqual(({}, [], []), listener._get_events())
        self.assertEqual([False], got)
        self.assertTrue(inner.call_args[0][0].startswith('Event?'))
