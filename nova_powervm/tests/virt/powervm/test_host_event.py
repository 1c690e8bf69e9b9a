"""Unit tests for host.py and event.py."""
import threading
import time
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from nova.virt import event as nova_event

from nova_powervm.virt.powervm import event
from nova_powervm.virt.powervm import host

PVM_UUID = '1BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'
INST_UUID = '9ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11'
HREF = 'https://h:12443/rest/api/uom/LogicalPartition/' + PVM_UUID


class TestHost(test.NoDBTestCase):

    def host_w(self):
        return mock.Mock(proc_units_configurable='9.5', proc_units_avail='4',
                         memory_configurable=65536, memory_free=16384,
                         memory_region_size=256,
                         asio_config=mock.Mock(sriov_adapters=[]))

    def test_build_host_resource(self):
        disk = mock.Mock(capacity=500.7, capacity_used=20.2)
        res = host.build_host_resource(self.host_w(), 'node1', disk)
        self.assertEqual(10, res['vcpus'])
        self.assertEqual(6, res['vcpus_used'])
        self.assertEqual(65536, res['memory_mb'])
        self.assertEqual(49152, res['memory_mb_used'])
        self.assertEqual(500, res['local_gb'])
        self.assertEqual(21, res['local_gb_used'])
        self.assertEqual('phyp', res['hypervisor_type'])
        self.assertEqual('node1', res['hypervisor_hostname'])
        self.assertIn(('ppc64le', 'phyp', 'hvm'), res['supported_instances'])

    def test_inventory(self):
        res = host.build_host_resource(self.host_w(), 'n', None)
        inv = host.inventory(res, {'VCPU': 4.0, 'MEMORY_MB': 1.5,
                                   'DISK_GB': 1.0},
                             {'VCPU': 1, 'MEMORY_MB': 512, 'DISK_GB': 3})
        self.assertEqual({'total': 10, 'min_unit': 1, 'max_unit': 10,
                          'step_size': 1, 'allocation_ratio': 4.0,
                          'reserved': 1}, inv['VCPU'])
        self.assertEqual(512, inv['MEMORY_MB']['reserved'])
        self.assertEqual(1.5, inv['MEMORY_MB']['allocation_ratio'])
        # No disk driver capacity: no DISK_GB inventory (total 0 refused).
        self.assertNotIn('DISK_GB', inv)


class TestEventHandler(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = mock.Mock()
        self.handler = event.PowerVMNovaEventHandler(self.drv)
        self.handler.remember(mock.Mock(uuid=INST_UUID))
        self.qp = self.useFixture(fixtures.MockPatchObject(
            event.vm, 'get_vm_qp')).mock
        self.useFixture(fixtures.MockPatchObject(event, 'STOP_EVENT_DELAY',
                                                 0.05))
        self.addCleanup(self.handler.stop)

    def evt(self, etype='MODIFY_URI', href=HREF,
            detail='PartitionState,Other'):
        return {'EventType': etype, 'EventData': href, 'EventID': '1',
                'EventDetail': detail}

    def transitions(self):
        return [(c[0][0].get_instance_uuid(), c[0][0].get_transition())
                for c in self.drv.emit_event.call_args_list]

    def test_lpar_uuid(self):
        self.assertEqual(PVM_UUID, event._lpar_uuid(HREF))
        self.assertEqual(PVM_UUID, event._lpar_uuid(
            HREF.replace(PVM_UUID, PVM_UUID.lower()) + '?group=None'))
        self.assertIsNone(event._lpar_uuid(HREF + '/ClientNetworkAdapter/x'))
        self.assertIsNone(event._lpar_uuid(
            'https://h/rest/api/uom/VirtualIOServer/' + PVM_UUID))
        self.assertIsNone(event._lpar_uuid(None))

    def test_started_once(self):
        self.qp.return_value = {'PartitionState': 'running'}
        self.handler.process([self.evt(), self.evt()])
        self.handler.process([self.evt()])
        self.qp.assert_called_with(self.drv.adapter, PVM_UUID)
        self.assertEqual([(INST_UUID, nova_event.EVENT_LIFECYCLE_STARTED)],
                         self.transitions())

    def test_irrelevant_events_cost_nothing(self):
        self.handler.process([
            self.evt(detail='RMCState'),
            self.evt(href=HREF + '/ClientNetworkAdapter/abc'),
            self.evt(etype='DELETE_URI'),
            self.evt(href='https://h/rest/api/uom/VirtualIOServer/X')])
        self.assertFalse(self.qp.called)
        self.assertFalse(self.drv.emit_event.called)

    def test_stop_delayed_and_cancelled_by_start(self):
        self.qp.return_value = {'PartitionState': 'not activated'}
        self.handler.process([self.evt()])
        self.assertFalse(self.drv.emit_event.called)
        self.qp.return_value = {'PartitionState': 'running'}
        self.handler.process([self.evt()])
        time.sleep(0.2)
        self.assertEqual([(INST_UUID, nova_event.EVENT_LIFECYCLE_STARTED)],
                         self.transitions())

    def test_stop_emitted_after_delay(self):
        self.qp.return_value = {'PartitionState': 'not activated'}
        done = threading.Event()
        self.drv.emit_event.side_effect = lambda e: done.set()
        self.handler.process([self.evt()])
        self.assertTrue(done.wait(2))
        self.assertEqual([(INST_UUID, nova_event.EVENT_LIFECYCLE_STOPPED)],
                         self.transitions())

    def test_suspend_resume(self):
        self.qp.return_value = {'PartitionState': 'suspended'}
        self.handler.process([self.evt()])
        self.qp.return_value = {'PartitionState': 'running'}
        self.handler.process([self.evt()])
        self.assertEqual(
            [(INST_UUID, nova_event.EVENT_LIFECYCLE_SUSPENDED),
             (INST_UUID, nova_event.EVENT_LIFECYCLE_RESUMED)],
            self.transitions())

    def test_transient_states_ignored(self):
        for state in ('starting', 'shutting down', 'Unknown'):
            self.qp.return_value = {'PartitionState': state}
            self.handler.process([self.evt()])
        # 'starting' maps to running in nova terms.
        self.assertEqual([(INST_UUID, nova_event.EVENT_LIFECYCLE_STARTED)],
                         self.transitions())

    def test_rest_error_does_not_escape(self):
        self.qp.side_effect = Exception('REST down')
        self.handler.process([self.evt()])
        self.qp.side_effect = None
        self.qp.return_value = {'PartitionState': 'running'}
        self.handler.process([self.evt()])
        self.assertEqual(1, len(self.transitions()))

    def test_deleted_partition(self):
        self.qp.side_effect = nova_exc.InstanceNotFound(instance_id='x')
        self.handler.process([self.evt()])
        self.assertFalse(self.drv.emit_event.called)

    def test_partition_maps_bounded(self):
        self.useFixture(fixtures.MockPatchObject(event, 'KEEP_PARTITIONS',
                                                 4))
        handler = event.PowerVMNovaEventHandler(self.drv)
        self.addCleanup(handler.stop)
        self.qp.return_value = {'PartitionState': 'running'}
        for n in range(10):
            uuid = '%08X-0000-4000-8000-000000000000' % n
            handler.remember(mock.Mock(uuid=uuid.lower()))
            handler.process([self.evt(href=HREF.replace(PVM_UUID, uuid))])
        self.assertEqual(10, len(self.transitions()))
        self.assertEqual(4, len(handler._uuids))
        self.assertEqual(4, len(handler._last))
        # The most recent ones are kept.
        self.assertIn('00000009-0000-4000-8000-000000000000',
                      handler._last)

    @mock.patch.object(event.state_cache, 'read_all')
    def test_resync_after_lost_events(self, read_all):
        read_all.return_value = {PVM_UUID: {'PartitionState': 'running'}}
        self.handler.process([self.evt(etype='CACHE_CLEARED', href='')])
        read_all.assert_called_once_with(self.drv.adapter)
        self.assertEqual([(INST_UUID, nova_event.EVENT_LIFECYCLE_STARTED)],
                         self.transitions())

    @mock.patch('nova.objects.Instance.get_by_uuid')
    def test_unknown_partition_looked_up(self, get):
        other = '2BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'
        get.side_effect = [nova_exc.InstanceNotFound(instance_id='x'),
                           mock.Mock(uuid='aba2c5e4-5e2c-4d18-a2e6-'
                                          '2d2b7f6d5a11')]
        self.qp.return_value = {'PartitionState': 'running'}
        self.handler.process([self.evt(href=HREF.replace(PVM_UUID, other))])
        self.assertEqual(2, get.call_count)
        self.assertEqual(
            [('aba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11',
              nova_event.EVENT_LIFECYCLE_STARTED)], self.transitions())

    @mock.patch('nova.objects.Instance.get_by_uuid')
    def test_other_partitions_looked_up_once(self, get):
        other = '2BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'
        get.side_effect = nova_exc.InstanceNotFound(instance_id='x')
        self.qp.return_value = {'PartitionState': 'running'}
        for _ in range(3):
            self.handler.process([self.evt(href=HREF.replace(PVM_UUID,
                                                             other))])
        # Two candidates, once: its UUID never becomes an instance's.
        self.assertEqual(2, get.call_count)
        self.assertFalse(self.drv.emit_event.called)

    @mock.patch.object(event.state_cache, 'read_all')
    def test_resync_does_not_reconfirm_a_reported_stop(self, read_all):
        self.qp.return_value = {'PartitionState': 'not activated'}
        done = threading.Event()
        self.drv.emit_event.side_effect = lambda e: done.set()
        self.handler.process([self.evt()])
        self.assertTrue(done.wait(2))
        self.qp.reset_mock()
        read_all.return_value = {PVM_UUID: {'PartitionState':
                                            'not activated'}}
        gap = self.evt(etype='MISSING_EVENTS', href='')
        self.handler.process([gap])
        self.handler.process([gap])
        time.sleep(0.2)
        # No delayed re-read per stopped partition and resync.
        self.assertFalse(self.qp.called)
        self.assertEqual([(INST_UUID, nova_event.EVENT_LIFECYCLE_STOPPED)],
                         self.transitions())

    def test_start_stop_listener(self):
        listener = self.drv.adapter.session.get_event_listener.return_value
        handler = event.start_listener(self.drv)
        # A nova event handler for this driver is what gets subscribed.
        self.assertIsInstance(handler, event.PowerVMNovaEventHandler)
        self.assertIs(self.drv, handler._driver)
        listener.subscribe.assert_called_once_with(handler)
        event.stop_listener(self.drv, handler)
        listener.unsubscribe.assert_called_once_with(handler)

    def test_listener_unavailable(self):
        self.drv.adapter.session.get_event_listener.side_effect = (
            ValueError('no NEW_CLIENT'))
        self.assertIsNone(event.start_listener(self.drv))
        event.stop_listener(self.drv, None)
