# Apply nova's concurrency set-up (eventlet monkey patching, unless
# OS_NOVA_DISABLE_EVENTLET_PATCHING is set) before any test module imports
# threading, sockets, urllib3 or futurist -- as nova/tests/__init__.py does.
# Patching later, after those modules were loaded, leaves half-patched
# threading primitives: a real thread's Event.set() never wakes a
# greenthread waiting on it (the REST simulator's start-up hangs).
from nova import monkey_patch

monkey_patch.patch()

import atexit  # noqa: E402
import copy  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from nova_powervm import conf as pvm_conf  # noqa: E402

# The driver's default NVRAM store ("local") writes under nova's
# state_path, which in tests is nova's install directory: point it at a
# directory of this test process instead.  The option's own default is
# changed (nova's config fixture resets set_default() after each test).
_NVRAM_DIR = tempfile.mkdtemp(prefix='nova-powervm-test-nvram-')
atexit.register(shutil.rmtree, _NVRAM_DIR, True)
for _opt in pvm_conf.powervm.nvram_opts:
    if _opt.name == 'nvram_local_path':
        _opt.default = _NVRAM_DIR
# Slot maps (on by default) likewise.
_SLOT_MAP_DIR = tempfile.mkdtemp(prefix='nova-powervm-test-slotmaps-')
atexit.register(shutil.rmtree, _SLOT_MAP_DIR, True)
for _opt in pvm_conf.powervm.slot_map_opts:
    if _opt.name == 'slot_map_dir':
        _opt.default = _SLOT_MAP_DIR


def _memoize_policy_parsing():
    """Parse each policy file content once per test process.

    nova's test base class writes the same policy file for every test and
    oslo.policy parses it twice with pure-Python YAML: about 30 ms of CPU
    per test, most of a bare test's set-up.  Same content, same dict: the
    cache hands out copies, so nothing a test changes leaks to the next.
    """
    from oslo_policy import policy as oslo_policy

    parse = oslo_policy.parse_file_contents
    cache = {}

    def parse_file_contents(data):
        if data not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[data] = parse(data)
        return copy.deepcopy(cache[data])
    oslo_policy.parse_file_contents = parse_file_contents


_memoize_policy_parsing()
