"""Fault matrix cells for the move flows, two hosts on one SSP cluster.

Each nova step of a move is one flow (driver level, as nova calls it): the
source's migrate_disk_and_power_off, the target's finish_migration, the
source's confirm_migration, a revert's destroy on the target and
finish_revert_migration on the source, a resize's finish on one host, an
evacuation's spawn on the target (reattaching the shared LU) and a
rebuild's spawn (slot maps on).  At every write (PUT, POST, DELETE, job)
of the flow the host it runs on makes the change and answers HTTP 500
(``test_ambiguous_http500_at_write_NN``) or, except for the destroy and
spawn flows (test_fault_matrix covers them), answers HTTP 500 before making it
(``test_http500_at_write_NN``).  Afterwards the other host is unchanged
and this one is as it was before the step, or a retry of the step
completes it.
"""
# nova's concurrency set-up first, as in test_fault_matrix.
from nova import monkey_patch
monkey_patch.patch()

import types  # noqa: E402

import fixtures  # noqa: E402
from nova.compute import task_states  # noqa: E402
from nova.network import model as network_model  # noqa: E402

from nova_powervm.simulator import control as sim_control  # noqa: E402
from nova_powervm.simulator import san as sim_san  # noqa: E402
from nova_powervm.tests.functional import test_fault_matrix as fm  # noqa
from nova_powervm.tests.functional import test_lifecycle as lc  # noqa: E402
from nova_powervm.virt.powervm import driver_move  # noqa: E402
from nova_powervm.virt.powervm import vm  # noqa: E402

ONLY = ('write500', 'amb500')
SRC, DST = 'compute1', 'compute2'
NO_VIFS = network_model.NetworkInfo([])


class _MoveMatrix(fm._FaultMatrix):
    """Two hosts (``sims``, ``drvs``); the flow runs on host ``side``."""

    disk_driver = 'ssp'
    side = 0

    @classmethod
    def setUpClass(cls):
        super(fm.base.ClassSimTestCase, cls).setUpClass()
        cls.san = sim_san.San()
        cls.sims = [sim_control.Simulator(host='127.0.0.1', port=0,
                                          san=cls.san, **cls.sim_kwargs)
                    for _ in range(2)]
        for sim in cls.sims:
            sim.start()
        cls.sim = cls.sims[cls.side]

    @classmethod
    def tearDownClass(cls):
        for sim in cls.sims:
            sim.close()
        cls.san.close()
        super(fm.base.ClassSimTestCase, cls).tearDownClass()

    def setUp(self):
        self.drvs = []
        super().setUp()
        self.useFixture(fixtures.MockPatchObject(
            driver_move.compute_rpcapi, 'ComputeAPI'))
        driver_move.compute_rpcapi.ComputeAPI(
        ).check_instance_shared_storage.return_value = []
        self.migration = types.SimpleNamespace(source_compute=SRC,
                                               dest_compute=DST)
        self.useFixture(fixtures.MockPatchObject(
            driver_move, '_migration', side_effect=lambda c, i: (
                self.migration)))

    def new_driver(self):
        """Both hosts' drivers; returns the one of ``side``."""
        self.drvs = []
        for sim in self.sims:
            self.flags(group='powervm', host=sim.host, port=sim.port)
            self.drvs.append(super().new_driver())
        self.flags(group='powervm', host=self.sim.host, port=self.sim.port)
        return self.drvs[self.side]

    def other(self):
        return self.sims[1 - self.side]

    # -- steps --------------------------------------------------------------
    def spawn(self, drv, inst, task_state=task_states.SPAWNING):
        inst.task_state = task_state
        drv.spawn(None, inst, self.image_meta, [], None, {}, NO_VIFS)
        inst.task_state = None

    def migrate(self, inst):
        self.drvs[0].migrate_disk_and_power_off(None, inst, DST, inst.flavor,
                                                NO_VIFS, None, 0)

    def finish(self, inst):
        self.drvs[1].finish_migration(None, self.migration, inst, '{}',
                                      NO_VIFS, self.image_meta, False, {})

    def pstate(self, index, inst):
        try:
            return vm.get_instance_wrapper(self.drvs[index].adapter,
                                           inst).state
        except Exception:
            return None

    def prepare(self):
        inst = lc.make_instance(1, image_ref=self.image_id)
        inst.old_flavor = inst.new_flavor = inst.flavor
        self.spawn(self.drvs[0], inst)
        state = {'inst': inst}
        self.prepare_move(state)
        state['other'] = self.other().inventory()
        return state

    def prepare_move(self, state):
        """The steps before the flow's."""

    def check_failed(self, state, before, err):
        """The other host unchanged; this one as before, or a retry of
        the step completes it (e.g. a power off made but not answered).
        """
        self.assertInventory(state['other'], self.other().inventory(),
                             'the other host')
        if self.sim.inventory() != before:
            self.retry(state, before)

    def retry(self, state, before, err=None):
        """After a failure: a retry completes the step."""
        self.run_flow(state)
        self.check_succeeded(state, before)


class _Migrate(_MoveMatrix):

    def run_flow(self, state):
        self.migrate(state['inst'])

    def check_succeeded(self, state, before):
        self.assertEqual('not activated', self.pstate(0, state['inst']))


class _Finish(_MoveMatrix):

    side = 1

    def prepare_move(self, state):
        self.migrate(state['inst'])

    def run_flow(self, state):
        self.finish(state['inst'])

    def check_succeeded(self, state, before):
        self.assertEqual('running', self.pstate(1, state['inst']))


class _Confirm(_MoveMatrix):

    def prepare_move(self, state):
        self.migrate(state['inst'])
        self.finish(state['inst'])

    def run_flow(self, state):
        self.drvs[0].confirm_migration(None, self.migration, state['inst'],
                                       NO_VIFS)

    check_failed = _MoveMatrix.retry

    def check_succeeded(self, state, before):
        self.assertIsNone(self.pstate(0, state['inst']))
        self.assertEqual('running', self.pstate(1, state['inst']))


class _RevertDestroy(_Confirm):
    """nova's revert, first step: destroy on the target (disks kept)."""

    side = 1

    def run_flow(self, state):
        inst = state['inst']
        inst.task_state = task_states.RESIZE_REVERTING
        self.drvs[1].destroy(None, inst, NO_VIFS)

    def check_succeeded(self, state, before):
        self.assertIsNone(self.pstate(1, state['inst']))
        self.assertEqual('not activated', self.pstate(0, state['inst']))


class _FinishRevert(_MoveMatrix):
    """nova's revert, second step: the source partition back on."""

    def prepare_move(self, state):
        self.migrate(state['inst'])
        self.finish(state['inst'])
        state['inst'].task_state = task_states.RESIZE_REVERTING
        self.drvs[1].destroy(None, state['inst'], NO_VIFS)

    def run_flow(self, state):
        self.drvs[0].finish_revert_migration(None, state['inst'], NO_VIFS,
                                             self.migration)

    def check_succeeded(self, state, before):
        self.assertEqual('running', self.pstate(0, state['inst']))


class _ResizeFinish(_MoveMatrix):
    """A resize on one host: the new flavor and a grown LU."""

    def prepare_move(self, state):
        self.migration = types.SimpleNamespace(source_compute=SRC,
                                               dest_compute=SRC)
        inst = state['inst']
        new = inst.flavor.obj_clone()
        new.vcpus, new.memory_mb, new.root_gb = 2, 1024, 2
        self.drvs[0].migrate_disk_and_power_off(None, inst, SRC, new,
                                                NO_VIFS, None, 0)
        inst.old_flavor, inst.new_flavor, inst.flavor = inst.flavor, new, new

    def run_flow(self, state):
        self.drvs[0].finish_migration(None, self.migration, state['inst'],
                                      '{}', NO_VIFS, self.image_meta, True,
                                      {})

    def check_failed(self, state, before, err):
        # The old flavor is back (a grown LU stays grown: disks never
        # shrink), or a retry completes the resize.
        def no_pool(inv):
            return {k: v for k, v in inv.items() if k != 'ssp'}
        self.assertInventory(no_pool(state['other']),
                             no_pool(self.other().inventory()),
                             'the other host')
        if no_pool(self.sim.inventory()) != no_pool(before):
            self.retry(state, before)

    def check_succeeded(self, state, before):
        self.assertEqual('running', self.pstate(0, state['inst']))


class _EvacuateSpawn(_MoveMatrix):
    """The target spawns the instance on its shared LU (source down)."""

    side = 1

    def run_flow(self, state):
        self.spawn(self.drvs[1], state['inst'],
                   task_states.REBUILD_SPAWNING)

    def check_succeeded(self, state, before):
        self.assertEqual('running', self.pstate(1, state['inst']))


class _RebuildSpawn(_EvacuateSpawn):
    """A rebuild on one host: destroyed, spawned again in its slots."""

    side = 0

    def prepare_move(self, state):
        state['inst'].task_state = task_states.REBUILDING
        self.drvs[0].destroy(None, state['inst'], NO_VIFS)

    def run_flow(self, state):
        self.spawn(self.drvs[0], state['inst'],
                   task_states.REBUILD_SPAWNING)

    def check_succeeded(self, state, before):
        self.assertEqual('running', self.pstate(0, state['inst']))


def _cells(max_writes, only=ONLY):
    def generate(cls):
        cls.max_writes = max_writes
        # Recorded once per class (test_recorded_requests): every write.
        cls.max_requests = cls.max_jobs = cls.max_updates = 99
        return fm._generate(cls, only=only)
    return generate


@_cells(2)
class TestMigrateSourceSSP(_Migrate):
    """Power off (NVRAM saved for the target)."""


@_cells(5)
class TestFinishMigrationTargetSSP(_Finish):
    """New partition, the pool's LU mapped, power on."""


@_cells(3, only=('amb500',))
class TestConfirmSourceSSP(_Confirm):
    """The source partition removed (the LU stays)."""


@_cells(5, only=('amb500',))
class TestRevertDestroyTargetSSP(_RevertDestroy):
    pass


@_cells(2)
class TestFinishRevertSourceSSP(_FinishRevert):
    pass


@_cells(4)
class TestResizeFinishSSP(_ResizeFinish):
    pass


@_cells(5, only=('amb500',))
class TestEvacuateSpawnTargetSSP(_EvacuateSpawn):
    pass


@_cells(8, only=('amb500',))
class TestRebuildSpawnSSP(_RebuildSpawn):
    pass
