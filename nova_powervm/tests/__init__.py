# Apply nova's concurrency set-up (eventlet monkey patching, unless
# OS_NOVA_DISABLE_EVENTLET_PATCHING is set) before any test module imports
# threading, sockets, urllib3 or futurist -- as nova/tests/__init__.py does.
# Patching later, after those modules were loaded, leaves half-patched
# threading primitives: a real thread's Event.set() never wakes a
# greenthread waiting on it (the REST simulator's start-up hangs).
from nova import monkey_patch

monkey_patch.patch()
