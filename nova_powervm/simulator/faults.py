"""Fault injection, latency and the request log.

A fault fires before the request is served (nothing is applied), unless it
is ``after_commit``: then the request is served in full (the change is
made, a job is started) and the answer is lost: the connection dropped,
an HTTP error sent instead, or the answer held ``delay_s`` (beyond the
client's timeout).  That is the ambiguous write a real client must survive:
it got an error, yet the change is there.
"""
import itertools
import re
import threading

_DEFAULT = object()


class Fault(object):
    def __init__(self, fid, method, path, nth, status, job_failure, drop,
                 delay_s, times, after_commit=False):
        self.id = fid
        self.method = method.upper() if method else None
        self.path = re.compile(path) if path else None
        self.nth = nth
        self.status = status
        self.job_failure = job_failure
        self.drop = drop
        self.delay_s = delay_s
        self.times = times
        self.after_commit = after_commit
        self.seen = 0
        self.fired = 0

    def matches(self, method, target):
        if self.method and self.method != method:
            return False
        return not self.path or bool(self.path.search(target))

    def as_dict(self):
        return {'id': self.id, 'method': self.method,
                'path': self.path.pattern if self.path else None,
                'nth': self.nth, 'status': self.status,
                'job_failure': self.job_failure, 'drop': self.drop,
                'delay_s': self.delay_s, 'times': self.times,
                'after_commit': self.after_commit, 'seen': self.seen,
                'fired': self.fired}


class Faults(object):
    """Faults armed by tests; each request consults match() once."""

    def __init__(self):
        self._faults = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, method=None, path=None, nth=None, status=_DEFAULT,
            job_failure=False, drop=False, delay_s=0, times=1,
            after_commit=False):
        if after_commit and job_failure:
            raise ValueError('after_commit loses the answer of a request '
                             'that was served; a job failure is not one')
        if status is _DEFAULT:
            status = None if (job_failure or drop or delay_s) else 500
        if job_failure is True:
            job_failure = 'HSCL9999 Simulated job failure'
        if nth is not None and nth < 1:
            raise ValueError('nth is 1-based')
        with self._lock:
            f = Fault(next(self._ids), method, path, nth, status,
                      job_failure, drop, delay_s, times, bool(after_commit))
            self._faults.append(f)
            return f.id

    def clear(self):
        with self._lock:
            self._faults = []

    def list(self):
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def match(self, method, target):
        """The fault to apply to this request (if any); counts requests."""
        with self._lock:
            chosen = None
            for f in self._faults:
                if not f.matches(method, target):
                    continue
                f.seen += 1
                if chosen is not None:
                    continue
                if f.nth is not None and f.seen < f.nth:
                    continue
                if f.times is not None and f.fired >= f.times:
                    continue
                f.fired += 1
                chosen = f
            self._faults = [f for f in self._faults
                            if f.times is None or f.fired < f.times]
            return chosen


class RequestLog(object):
    def __init__(self, limit=100000):
        self._lock = threading.Lock()
        self._log = []
        self._limit = limit
        self.counters = {}

    def record(self, method, path, query, status, duration_ms, nbytes=0,
               cpu_ms=0.0, wait_ms=0.0):
        """Log one request; ``nbytes``: its answer's body size.

        ``cpu_ms``: the simulator's CPU serving it; ``wait_ms``: modelled
        waits in it (latency, delays, job durations; see timing.py).
        """
        entry = {'method': method, 'path': path, 'query': query,
                 'status': status, 'duration_ms': round(duration_ms, 3),
                 'bytes': nbytes, 'cpu_ms': round(cpu_ms, 3),
                 'wait_ms': round(wait_ms, 3)}
        with self._lock:
            self._log.append(entry)
            if len(self._log) > self._limit:
                del self._log[:len(self._log) - self._limit]
            c = self.counters
            c['requests'] = c.get('requests', 0) + 1
            c[method] = c.get(method, 0) + 1
            skey = 'status_%s' % status
            c[skey] = c.get(skey, 0) + 1

    def bump(self, name, n=1):
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def counter_values(self):
        with self._lock:
            return dict(self.counters)

    def entries(self):
        with self._lock:
            return [dict(e) for e in self._log]

    def clear(self):
        with self._lock:
            self._log = []
            self.counters = {}
