"""Resize, cold migration and evacuation, step by step.

Shared by the request-count tests (test_request_counts_move,
test_request_counts) and the benchmark (``benchmarks.move``): the driver
calls nova makes, each step's REST requests (event polls excluded) and
wall time.  Cold migration and evacuation run on two simulated hosts with
SSP disks; the target's check (``move_check``, an RPC in nova) is answered
"no objection" without requests.
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


def resize(sim, drv, inst, new_flavor, image_meta, vifs):
    """{step: (requests, seconds)} of a resize of ``inst`` on one host.

    migrate_disk_and_power_off, finish_migration, confirm_migration as
    nova calls them for a resize in place.  Counted are the requests
    ``sim`` saw during each step, event polls excluded: no other driver
    may be listening to ``sim`` (its listener would read the partition at
    each of the resize's events).  ``inst.flavor`` ends as ``new_flavor``.
    """
    old = inst.flavor
    same = types.SimpleNamespace(source_compute='compute1',
                                 dest_compute='compute1')
    out = {}

    def step(name, fn, *args):
        sim.clear_request_log()
        start = time.monotonic()
        fn(*args)
        out[name] = (len(base.non_event(sim.request_log())),
                     round(time.monotonic() - start, 3))

    with mock.patch.object(driver_move, '_migration', return_value=same):
        step('migrate_disk_and_power_off', drv.migrate_disk_and_power_off,
             None, inst, 'compute1', new_flavor, vifs, None, 0)
        inst.old_flavor, inst.new_flavor, inst.flavor = (old, new_flavor,
                                                         new_flavor)
        step('finish_migration', drv.finish_migration, None, same, inst,
             '{}', vifs, image_meta, True, {}, None)
        step('confirm_migration', drv.confirm_migration, None, same, inst,
             vifs)
    return out
