"""Fail a test that leaves a pypowervm event poll thread running.

pypowervm polls a session's event feed in an ``_EventPollThread`` for as
long as one handler is subscribed to its listener.  A thread a test leaves
subscribed polls on after the test, against a simulator that is gone
(ECONNREFUSED, a retry every 5 s, noise in later tests' logs).  Note that
``EventListener.shutdown()`` skips every other handler when several are
subscribed: unsubscribe them one by one (:func:`unsubscribe_all`).
"""
import threading

import fixtures
from pypowervm import adapter as pvm_adpt

# How long a stopped poll thread may take to end: its read in flight
# returns when the simulator's hold ends (at most 10 s, the simulator's
# default) or the server stops, or after a failed read's 5 s pause.
JOIN_S = 20.0


def poll_threads():
    """pypowervm's live event poll threads."""
    return [t for t in threading.enumerate()
            if isinstance(t, pvm_adpt._EventPollThread) and t.is_alive()]


def unsubscribe_all(listener):
    """Unsubscribe every handler of ``listener`` (its poll thread stops)."""
    for handler in list(listener.handlers):
        try:
            listener.unsubscribe(handler)
        except ValueError:
            pass    # unsubscribed meanwhile


class EventPollThreadsFixture(fixtures.Fixture):
    """At cleanup, no event poll thread started since setUp runs on.

    Threads still subscribed at cleanup are leaks: stopped (all their
    handlers unsubscribed) and reported.  Stopped ones are given
    :data:`JOIN_S` to end (the read they are in returns) and reported only
    if they do not.  Use it before the simulator fixture: its cleanup runs
    after the test's own and after the simulator stopped (which releases
    held polls).
    """

    def _setUp(self):
        before = set(poll_threads())
        self.addCleanup(self._check, before)

    def _check(self, before):
        leaked = []
        threads = [t for t in poll_threads() if t not in before]
        for thread in threads:
            if not thread.done:
                leaked.append('%s still subscribed (%d handler(s): %s)' % (
                    thread.name, len(thread.eventlistener.handlers),
                    ', '.join(type(h).__name__ for h in
                              thread.eventlistener.handlers)))
                unsubscribe_all(thread.eventlistener)
        for thread in threads:
            thread.join(JOIN_S)
            if thread.is_alive():
                leaked.append('%s did not end within %.0f s of being '
                              'stopped' % (thread.name, JOIN_S))
        if leaked:
            raise AssertionError('event poll thread(s) left running: %s' %
                                 '; '.join(leaked))
