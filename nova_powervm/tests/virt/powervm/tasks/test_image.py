"""Unit tests for the snapshot tasks and PowerVMDriver.snapshot."""
from unittest import mock

import fixtures

from nova.compute import task_states
from nova import exception as nova_exc
from nova import test

from nova_powervm.virt.powervm import driver as pvm_driver
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import image
from nova_powervm.virt.powervm import snapshot_cancel


class TestSnapshot(test.NoDBTestCase):
    """Runs the real snapshot flow with the disk driver and OS mocked."""

    def setUp(self):
        super().setUp()
        self.drv = pvm_driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = mock.Mock()
        self.disk = mock.Mock(capabilities={'snapshot': True})
        self.drv.disk_dvr = self.disk
        # The partition is there and running (power.py's own tests cover
        # the other states).
        self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.power.check_snapshot_state'))
        self.stg = mock.Mock()
        self.stg.name = 'boot_inst'
        self.vwrap = mock.Mock(uuid='vios-uuid')
        self.vwrap.name = 'vios1'
        self.disk.connect_instance_disk_to_mgmt.return_value = (
            self.stg, self.vwrap, 'the-mapping')
        self.inst = mock.Mock(uuid='inst-uuid', project_id='proj')
        self.inst.name = 'inst'
        self.calls = mock.Mock()
        self.update_state = self.calls.update_task_state
        p = mock.patch.multiple(
            'nova_powervm.virt.powervm.mgmt',
            mgmt_uuid=mock.Mock(return_value='mgmt-uuid'),
            discover_vscsi_disk=self.calls.discover,
            remove_block_dev=self.calls.remove_block_dev)
        p.start()
        self.addCleanup(p.stop)
        self.calls.discover.return_value = '/dev/sdz'
        self.stream = self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.image.stream_to_image')).mock
        self.calls.attach_mock(self.stream, 'stream')
        self.calls.attach_mock(self.disk.connect_instance_disk_to_mgmt,
                               'connect')
        self.calls.attach_mock(self.disk.disconnect_disk_from_mgmt,
                               'disconnect')

    def snapshot(self):
        self.drv.snapshot('ctx', self.inst, 'img-id', self.update_state)

    def test_success_order(self):
        self.snapshot()
        meta = {'status': 'active', 'disk_format': 'raw',
                'container_format': 'bare',
                'properties': {'image_location': 'snapshot',
                               'image_state': 'available',
                               'owner_id': 'proj'}}
        self.assertEqual([
            mock.call.update_task_state(
                task_state=task_states.IMAGE_PENDING_UPLOAD),
            mock.call.connect(self.inst, 'mgmt-uuid'),
            mock.call.discover('the-mapping'),
            mock.call.update_task_state(
                task_state=task_states.IMAGE_UPLOADING,
                expected_state=task_states.IMAGE_PENDING_UPLOAD),
            mock.call.stream('ctx', 'img-id', meta, '/dev/sdz',
                             check=mock.ANY),
            mock.call.remove_block_dev('/dev/sdz'),
            mock.call.disconnect(self.vwrap, 'boot_inst', 'mgmt-uuid'),
        ], self.calls.mock_calls)

    def test_upload_failure_unmaps(self):
        self.stream.side_effect = nova_exc.ImageNotFound(image_id='img-id')
        self.assertRaises(nova_exc.ImageNotFound, self.snapshot)
        self.calls.remove_block_dev.assert_called_once_with('/dev/sdz')
        # Revert re-reads the VIOS (by UUID) before removing the mapping.
        self.disk.disconnect_disk_from_mgmt.assert_called_once_with(
            'vios-uuid', 'boot_inst', 'mgmt-uuid')

    def test_discovery_failure_unmaps(self):
        self.calls.discover.side_effect = exc.NoDiskDiscoveryException(
            bus=0x30000002, udid='ab', timeout=1)
        self.assertRaises(exc.NoDiskDiscoveryException, self.snapshot)
        self.stream.assert_not_called()
        self.calls.remove_block_dev.assert_not_called()
        self.disk.disconnect_disk_from_mgmt.assert_called_once_with(
            'vios-uuid', 'boot_inst', 'mgmt-uuid')

    def test_unmap_failure_retried_by_revert(self):
        self.disk.disconnect_disk_from_mgmt.side_effect = [
            ValueError('etag'), None]
        self.assertRaises(exc.PowerVMTaskFailed, self.snapshot)
        self.assertEqual(
            [mock.call(self.vwrap, 'boot_inst', 'mgmt-uuid'),
             mock.call('vios-uuid', 'boot_inst', 'mgmt-uuid')],
            self.disk.disconnect_disk_from_mgmt.call_args_list)

    def test_mapping_failure_nothing_to_unmap(self):
        self.disk.connect_instance_disk_to_mgmt.side_effect = (
            exc.InstanceDiskMappingFailed(instance='inst', reason='x'))
        self.assertRaises(exc.InstanceDiskMappingFailed, self.snapshot)
        self.calls.discover.assert_not_called()
        self.disk.disconnect_disk_from_mgmt.assert_not_called()
        self.update_state.assert_called_once_with(
            task_state=task_states.IMAGE_PENDING_UPLOAD)

    def _cancel_during_upload(self, error=None):
        """destroy stops the snapshot while it uploads."""
        def upload(ctx, image_id, meta, path, check):
            self.assertIn(self.inst.uuid, snapshot_cancel._RUNNING)
            check()
            # destroy, in another thread (here: not waiting).
            self.assertFalse(snapshot_cancel.cancel(self.inst, timeout=0))
            if error is not None:
                raise error
            check()
        self.stream.side_effect = upload

    def test_cancelled_upload_unmaps_and_raises_instance_not_found(self):
        self._cancel_during_upload()
        err = self.assertRaises(exc.SnapshotCancelled, self.snapshot)
        # nova's compute manager takes it for an instance deleted meanwhile
        # (and deletes the unfinished image).
        self.assertIsInstance(err, nova_exc.InstanceNotFound)
        self.calls.remove_block_dev.assert_called_once_with('/dev/sdz')
        self.disk.disconnect_disk_from_mgmt.assert_called_once_with(
            'vios-uuid', 'boot_inst', 'mgmt-uuid')
        self.assertNotIn(self.inst.uuid, snapshot_cancel._RUNNING)
        # Nothing left to stop.
        self.assertTrue(snapshot_cancel.cancel(self.inst, timeout=0))

    def test_cancelled_upload_failing_otherwise(self):
        # E.g. the disk's mapping was removed under the read (EIO), or the
        # image client wrapped the error: still an instance deleted.
        self._cancel_during_upload(IOError('EIO'))
        self.assertRaises(exc.SnapshotCancelled, self.snapshot)
        self.disk.disconnect_disk_from_mgmt.assert_called_once_with(
            'vios-uuid', 'boot_inst', 'mgmt-uuid')

    def test_disk_driver_without_snapshot(self):
        self.disk.capabilities = {'snapshot': False}
        self.assertRaises(nova_exc.NotSupportedWithOption, self.snapshot)
        self.update_state.assert_not_called()
        self.disk.connect_instance_disk_to_mgmt.assert_not_called()


class TestStreamToImage(test.NoDBTestCase):

    def test_streams_open_file(self):
        path = self.useFixture(fixtures.TempDir()).path + '/disk'
        with open(path, 'wb') as f:
            f.write(b'x' * 100)
        seen = {}

        def update(ctx, image_id, meta, data=None, purge_props=True):
            # A file handle, read by the image API, not bytes in memory.
            seen['read'] = data.read(10)
            seen['purge'] = purge_props
        with mock.patch.object(image.IMAGE_API, 'update', update):
            image.stream_to_image('ctx', 'img', {'a': 1}, path)
        self.assertEqual(b'x' * 10, seen['read'])
        self.assertFalse(seen['purge'])

    def test_check_before_each_read(self):
        path = self.useFixture(fixtures.TempDir()).path + '/disk'
        with open(path, 'wb') as f:
            f.write(b'x' * 100)
        check = mock.Mock(side_effect=[None, exc.SnapshotCancelled(
            instance_id='i')])

        def update(ctx, image_id, meta, data=None, purge_props=True):
            self.assertEqual(b'x' * 10, data.read(10))
            data.read(10)
        with mock.patch.object(image.IMAGE_API, 'update', update):
            self.assertRaises(exc.SnapshotCancelled, image.stream_to_image,
                              'ctx', 'img', {'a': 1}, path, check=check)
        self.assertEqual(2, check.call_count)
