# nova's services run here as in nova's own tests: apply nova's concurrency
# set-up (eventlet monkey patching unless OS_NOVA_DISABLE_EVENTLET_PATCHING
# is set) before anything imports threading, sockets or urllib3.
from nova import monkey_patch

monkey_patch.patch()
