"""Cold migration and evacuation on two simulated hosts, step by step.

Shared by the request-count test (test_request_counts_move) and the
benchmark (``benchmarks.move``): the driver calls nova makes, SSP disks,
each step's REST requests (event polls excluded) and wall time.  The
target's check (``move_check``, an RPC in nova) is answered "no objection"
without requests.
"""
import time
import types
from unittest import mock

from nova.compute import task_states
from nova.network import model as network_model

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import lpm
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import driver_move

NO_VIFS = network_model.NetworkInfo([])


def measure(test_case, image_meta):
    """{step: (requests, seconds)} of spawn, migrate, confirm, evacuate.

    ``test_case``: a fixtures-capable test case (flags, cleanups); the
    image must be in its image service.  Host 1 spawns, migrates to host 2
    (migrate_disk_and_power_off, finish_migration), confirms; then host 2
    "fails" and host 1 rebuilds the instance on the shared LU (evacuate).
    """
    fx, drvs = lpm.two_hosts(test_case)
    mig = types.SimpleNamespace(source_compute='compute1',
                                dest_compute='compute2')
    inst = lc.make_instance(1, image_ref=image_meta.id)
    inst.old_flavor = inst.new_flavor = inst.flavor
    out = {}

    def step(name, fn, *args):
        for sim in fx.sims:
            sim.clear_request_log()
        start = time.monotonic()
        fn(*args)
        out[name] = (sum(len(base.non_event(s.request_log()))
                         for s in fx.sims),
                     round(time.monotonic() - start, 3))

    def spawn(drv, task_state):
        inst.task_state = task_state
        drv.spawn(None, inst, image_meta, [], None, {}, NO_VIFS)
        inst.task_state = None

    rpc = mock.patch.object(driver_move.compute_rpcapi, 'ComputeAPI')
    with rpc as api, mock.patch.object(driver_move, '_migration',
                                       return_value=mig):
        api.return_value.check_instance_shared_storage.return_value = []
        step('spawn', spawn, drvs[0], task_states.SPAWNING)
        step('migrate_disk_and_power_off',
             drvs[0].migrate_disk_and_power_off, None, inst, 'compute2',
             inst.flavor, NO_VIFS, None, 0)
        step('finish_migration', drvs[1].finish_migration, None, mig, inst,
             '{}', NO_VIFS, image_meta, False, {})
        step('confirm_migration', drvs[0].confirm_migration, None, mig,
             inst, NO_VIFS)
        step('evacuate (spawn on the shared LU)', spawn, drvs[0],
             task_states.REBUILD_SPAWNING)
    return out
