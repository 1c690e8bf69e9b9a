"""Where a request's time goes: the simulator's CPU vs. modelled waits.

The server starts a :class:`Clock` per request; ``modelled_sleep`` (the
injected latency, fault delays, jobs' durations) and ``waiting`` (event
long-polls) add to the current thread's modelled wait.  The request log
then carries ``cpu_ms`` (this thread's CPU while serving the request) and
``wait_ms`` (modelled waits, and the time an event poll was held); what is
left of ``duration_ms`` is queueing (the state lock, the GIL, the
scheduler).  The thread's CPU during a modelled wait is not the request's
(under eventlet other green threads run on it meanwhile): it is left out.
"""
import contextlib
import threading
import time

_LOCAL = threading.local()


class Clock(object):
    """One request's wall, CPU and modelled-wait time (this thread)."""

    def __init__(self):
        self.start = time.monotonic()
        self._cpu = time.thread_time()
        _LOCAL.wait = 0.0
        _LOCAL.idle_cpu = 0.0

    def figures(self):
        """(duration ms, cpu ms, modelled wait ms) so far."""
        return ((time.monotonic() - self.start) * 1000.0,
                (time.thread_time() - self._cpu -
                 getattr(_LOCAL, 'idle_cpu', 0.0)) * 1000.0,
                getattr(_LOCAL, 'wait', 0.0) * 1000.0)


def _add(seconds, cpu_since):
    _LOCAL.wait = getattr(_LOCAL, 'wait', 0.0) + seconds
    _LOCAL.idle_cpu = (getattr(_LOCAL, 'idle_cpu', 0.0) +
                       time.thread_time() - cpu_since)


def modelled_sleep(seconds):
    """Sleep for a modelled delay (counted as this request's wait).

    The delay counts as modelled, not the time the sleep took: a late
    wake-up on a loaded machine is queueing.
    """
    if seconds > 0:
        cpu = time.thread_time()
        time.sleep(seconds)
        _add(seconds, cpu)


@contextlib.contextmanager
def waiting():
    """Count the time spent in the block as a modelled wait."""
    start, cpu = time.monotonic(), time.thread_time()
    try:
        yield
    finally:
        _add(time.monotonic() - start, cpu)
