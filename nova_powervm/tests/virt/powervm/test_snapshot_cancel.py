"""Unit tests for snapshot_cancel (destroy stopping a snapshot)."""
import threading
from unittest import mock

from nova import exception as nova_exc
from nova import test

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import snapshot_cancel


class TestSnapshotCancel(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.inst = mock.Mock(uuid='inst-1')
        self.other = mock.Mock(uuid='inst-2')

    def test_nothing_running(self):
        self.assertTrue(snapshot_cancel.cancel(self.inst, timeout=0))
        snapshot_cancel.check(None, self.inst)

    def test_cancel_waits_until_the_snapshot_ends(self):
        started, ended = threading.Event(), threading.Event()
        outcome = []

        def snapshot():
            try:
                with snapshot_cancel.tracking(self.inst) as cancelled:
                    started.set()
                    # The upload: reads until stopped.
                    while True:
                        snapshot_cancel.check(cancelled, self.inst)
                        cancelled.wait(30)
            except Exception as e:
                outcome.append(e)
            ended.set()

        thread = threading.Thread(target=snapshot)
        thread.start()
        self.addCleanup(thread.join, 30)
        self.assertTrue(started.wait(30))
        # Another instance's snapshot is none of its business.
        self.assertTrue(snapshot_cancel.cancel(self.other, timeout=0))
        self.assertFalse(ended.is_set())

        self.assertTrue(snapshot_cancel.cancel(self.inst, timeout=30))
        self.assertTrue(ended.is_set())
        self.assertIsInstance(outcome[0], exc.SnapshotCancelled)
        self.assertIsInstance(outcome[0], nova_exc.InstanceNotFound)
        self.assertNotIn('inst-1', snapshot_cancel._RUNNING)

    def test_wait_is_bounded(self):
        with snapshot_cancel.tracking(self.inst) as cancelled:
            self.assertFalse(snapshot_cancel.cancel(self.inst, timeout=0))
            self.assertTrue(cancelled.is_set())
        # It ended without failing (the upload was complete): no error.
        self.assertNotIn('inst-1', snapshot_cancel._RUNNING)

    def test_failure_without_cancel_is_kept(self):
        def run():
            with snapshot_cancel.tracking(self.inst):
                raise ValueError('disk full')
        self.assertRaises(ValueError, run)
        self.assertNotIn('inst-1', snapshot_cancel._RUNNING)
