"""An Adapter helper that reads each partition job template once.

pypowervm reads a job's template (``GET <partition>/do/<Operation>``) before
every job.  The template names only the operation: it is the same for every
partition, so the power and virtual terminal jobs of all instances can share
one read per adapter; so can the mobility jobs (two per live migration).
This is an ordinary pypowervm Adapter helper (the
public ``helpers`` argument of ``pypowervm.adapter.Adapter``); every caller
gets a fresh Response parsed from the stored body, so a job's parameters
never leak into another job.
"""
import re
import threading

from pypowervm import adapter as pvm_adpt

# .../LogicalPartition/<uuid>/do/PowerOff (no query) -> cache key.
_TEMPLATE_RE = re.compile(
    r'/rest/api/uom/(?:ManagedSystem/[^/]+/)?'
    r'(LogicalPartition|VirtualIOServer)/[^/]+/do/'
    r'(PowerOn|PowerOff|CloseVterm|Migrate|MigrateValidate|MigrateAbort|'
    r'MigrateRecover)$')


def cache_helper():
    """A new helper with its own (empty) template store."""
    store = {}
    lock = threading.Lock()

    def helper(func):
        def request(method, path, *args, **kwargs):
            match = method == 'GET' and _TEMPLATE_RE.search(
                path.split('?', 1)[0])
            if not match:
                return func(method, path, *args, **kwargs)
            key = match.groups()
            with lock:
                hit = store.get(key)
            if hit is None:
                resp = func(method, path, *args, **kwargs)
                if resp.status == 200 and resp.body:
                    with lock:
                        store[key] = resp
                return resp
            # The adapter parses the body again (it checks the request's
            # Accept header to decide how).
            return pvm_adpt.Response(
                method, path, hit.status, hit.reason, dict(hit.headers),
                reqheaders=dict(kwargs.get('headers') or {}), body=hit.body)
        return request
    return helper
