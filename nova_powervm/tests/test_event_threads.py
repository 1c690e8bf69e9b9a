"""The event poll thread guard (event_threads.py) against a simulator."""
from pypowervm import adapter as pvm_adpt

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests import base
from nova_powervm.tests import event_threads
from nova_powervm.tests.simulator import base as sim_base


class _Handler(pvm_adpt.RawEventHandler):
    def process(self, events):
        pass


class TestEventPollThreadsFixture(base.TestCase):

    def setUp(self):
        super().setUp()
        fx = self.useFixture(sim_fixture.SimulatorFixture(event_hold_s=0.2))
        sess = sim_base.session(fx)
        self.addCleanup(sess._logoff)
        self.listener = sess.get_event_listener()
        self.addCleanup(event_threads.unsubscribe_all, self.listener)
        self.guard = event_threads.EventPollThreadsFixture()
        self.guard.setUp()

    def _subscribe(self, count):
        for _ in range(count):
            self.listener.subscribe(_Handler())
        return self.listener._pthread

    def test_subscribed_thread_fails_and_is_stopped(self):
        thread = self._subscribe(2)
        # pypowervm's shutdown skips one of two handlers.
        self.listener.shutdown()
        self.assertEqual(1, len(self.listener.handlers))
        err = self.assertRaises(AssertionError, self.guard.cleanUp)
        self.assertIn('still subscribed (1 handler(s): _Handler)', str(err))
        self.assertEqual([], self.listener.handlers)
        self.assertFalse(thread.is_alive())

    def test_stopped_thread_is_joined(self):
        thread = self._subscribe(2)
        event_threads.unsubscribe_all(self.listener)
        # Stopped, its held read in flight: the guard waits for it.
        self.guard.cleanUp()
        self.assertFalse(thread.is_alive())
        self.assertEqual([], event_threads.poll_threads())

    def test_threads_running_before_are_left_alone(self):
        thread = self._subscribe(1)
        self.addCleanup(event_threads.unsubscribe_all, self.listener)
        guard = event_threads.EventPollThreadsFixture()
        guard.setUp()
        guard.cleanUp()
        self.assertTrue(thread.is_alive())
        event_threads.unsubscribe_all(self.listener)
        self.guard.cleanUp()
