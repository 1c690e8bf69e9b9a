"""A live migration between two simulated hosts, driver call by driver call.

Shared by the LPM fault matrix (test_fault_matrix_lpm), the request-count
test (test_request_counts_lpm) and the benchmark (``benchmarks.lpm``):
nova's calls in nova's order, without nova's API (the RPCs between the
hosts are plain calls here).
"""
import time
from unittest import mock

from nova.compute import task_states
from nova.network import model as network_model
from nova import objects
from testtools import content

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import mgmt

NO_VIFS = network_model.NetworkInfo([])
DEST = 'compute2'
# nova's order: the checks, the target's preparation, the job (on the
# source), then the source's clean-ups and the target's completion.
STEPS = ('check_can_live_migrate_destination',
         'check_can_live_migrate_source', 'pre_live_migration',
         'live_migration', 'post_live_migration',
         'post_live_migration_at_source',
         'post_live_migration_at_destination')


class LiveMigration(object):
    """One instance's live migration from ``drvs[0]`` to ``drvs[1]``.

    ``md``: the migrate data as it travels between the steps; ``outcome``:
    'post' or 'recover' (which of nova's callbacks ``live_migration``
    called, and with which status).
    """

    def __init__(self, drvs, inst, bdi=None, vifs=NO_VIFS):
        self.src, self.dst = drvs
        self.inst = inst
        self.bdi = bdi
        self.vifs = vifs
        # The source's network check reads the instance's cache.
        inst.info_cache = objects.InstanceInfoCache(network_info=vifs)
        self.md = None
        self.outcome = None

    def check_can_live_migrate_destination(self):
        self.md = self.dst.check_can_live_migrate_destination(
            None, self.inst, {}, {})

    def check_can_live_migrate_source(self):
        self.md = self.src.check_can_live_migrate_source(
            None, self.inst, self.md, self.bdi)

    def pre_live_migration(self):
        self.md = self.dst.pre_live_migration(None, self.inst, self.bdi,
                                              self.vifs, {}, self.md)

    def _post(self, ctxt, inst, dest, block_migration, md):
        self.outcome = 'post'

    def _recover(self, ctxt, inst, dest, md, migration_status='error'):
        self.outcome = 'recover: %s' % migration_status

    def live_migration(self):
        self.outcome = None
        self.src.live_migration(None, self.inst, DEST, self._post,
                                self._recover, migrate_data=self.md)

    def post_live_migration(self):
        self.src.post_live_migration(None, self.inst, self.bdi, self.md)

    def post_live_migration_at_source(self):
        self.src.post_live_migration_at_source(None, self.inst, self.vifs)

    def post_live_migration_at_destination(self):
        self.dst.post_live_migration_at_destination(
            None, self.inst, self.vifs, block_device_info=self.bdi)

    def rollback_live_migration_at_destination(self):
        self.dst.rollback_live_migration_at_destination(
            None, self.inst, self.vifs, self.bdi, migrate_data=self.md)

    def run(self, *steps):
        """Run the named steps (all of nova's successful path: none)."""
        for name in steps or STEPS:
            getattr(self, name)()


def rmc_up(sim, inst):
    """The guest's RMC connection is up (mobility needs it)."""
    sim.set_rmc(ids.pvm_uuid(inst), True)


def spawn(drv, sim, inst, image_meta, bdi=None, vifs=NO_VIFS):
    """Spawn ``inst`` on ``drv`` and bring its RMC connection up."""
    inst.task_state = task_states.SPAWNING
    drv.spawn(None, inst, image_meta, [], None, {}, vifs,
              block_device_info=bdi)
    inst.task_state = None
    rmc_up(sim, inst)


def two_drivers(test_case, fx, local=()):
    """Drivers (init_host done) of the fixture's two hosts.

    ``local``: the indexes of the hosts whose driver logs on as on the
    NovaLink partition (file-based logon: pypowervm runs the terminal
    commands, as for VNC consoles).
    """
    drvs = []
    with mock.patch.object(pvm_event, 'start_listener', return_value=None):
        for i in range(2):
            test_case.flags(group='powervm', **fx.flags_for_conf(i))
            if i in local:
                test_case.flags(group='powervm', password=None)
            drv = driver.PowerVMDriver(mock.Mock())
            drv.init_host('compute%d' % (i + 1))
            test_case.addCleanup(drv.adapter.session._logoff)
            drvs.append(drv)
    return drvs


def two_hosts(test_case, migration_s=0.0, local=()):
    """(fixture, drivers) of two simulated hosts on one SSP cluster.

    ``migration_s``: how long the simulator's Migrate job takes;
    ``local``: see ``two_drivers``.
    """
    fx = test_case.useFixture(sim_fixture.SimulatorFixture(
        hosts=2, power_delay_s=0.0, event_hold_s=0.2,
        migration_s=migration_s))
    mgmt._reset_cache()
    test_case.flags(group='powervm', disk_driver='ssp',
                    use_rmc_mgmt_vif=False, slot_map_store='none')
    return fx, two_drivers(test_case, fx, local)


def measure(test_case, image_meta, migration_s=0.0, local=False,
            vifs=NO_VIFS):
    """{step: (requests, seconds)} of one live migration of an SSP instance.

    ``test_case``: a fixtures-capable test case; the image must be in its
    image service.  Host 1 spawns (not counted), then nova's steps
    (``STEPS``) run; requests are both hosts' (event polls excluded).
    ``local``: host 1's driver logs on as on its NovaLink partition
    (pypowervm runs ``rmvterm``, the simulator's, instead of a job).
    ``vifs``: the instance's network info (none by default).
    """
    fx, drvs = two_hosts(test_case, migration_s, local=(0,) if local else ())
    if local:
        test_case.useFixture(sim_fixture.VtermCommandsFixture(fx.sims[0]))
    inst = lc.make_instance(1, image_ref=image_meta.id)
    spawn(drvs[0], fx.sims[0], inst, image_meta, vifs=vifs)
    mig = LiveMigration(drvs, inst, vifs=vifs)
    out = {}
    for name in STEPS:
        for sim in fx.sims:
            sim.clear_request_log()
        start = time.monotonic()
        getattr(mig, name)()
        secs = round(time.monotonic() - start, 3)
        reqs = ['host%d %s %s' % (i + 1, r['method'], r['path'])
                for i, s in enumerate(fx.sims)
                for r in base.non_event(s.request_log())]
        if hasattr(test_case, 'addDetail'):     # not the benchmark's
            test_case.addDetail('requests of ' + name,
                                content.text_content('\n'.join(reqs)))
        out[name] = (len(reqs), secs)
    if mig.outcome != 'post':
        raise AssertionError('the live migration ended in %s' % mig.outcome)
    return out
