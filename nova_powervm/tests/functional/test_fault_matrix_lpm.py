"""Fault matrix cells for live partition mobility, two hosts.

Each of nova's live migration calls (``lpm.STEPS``, driver level, in
nova's order, no nova API: fast) is one flow, on the host nova runs it on:
the target's and the source's checks, the target's ``pre_live_migration``,
the source's ``live_migration`` (the virtual terminal closed, the
MigrateValidate and Migrate jobs), the source's
``post_live_migration`` and ``post_live_migration_at_source``, the
target's ``post_live_migration_at_destination`` and, after PowerVM rolled
a job back, ``rollback_live_migration_at_destination``.  The instance
boots from an SSP LU with a port on a VLAN only it uses (the SEAs bridge
it), from a vSCSI volume (two paths) or from an NPIV volume.  SSP: every
write of the flow answers HTTP 500 before it is made
(``test_http500_at_write_NN``) or is made and answers HTTP 500
(``test_ambiguous_http500_at_write_NN``), every request of the checks
(they only read) answers HTTP 500 (``test_http500_at_request_NN``); the
CloseVterm job fails (``test_job_failure_at_job_1``: best effort, the
migration goes on), MigrateValidate or Migrate fails (jobs 2 and 3), the
Migrate job is rolled back half-way by PowerVM
(``test_migration_rolled_back``) or stays migrating on both hosts until
recovered (``test_migration_stuck``).  vSCSI: every job (hdisk discovery,
removal, CloseVterm, the Migrate jobs) fails.  NPIV: every request of the
target's steps (the fabric ports chosen, then recorded) answers HTTP 500,
the CloseVterm, MigrateValidate and Migrate jobs fail.

Afterwards, as nova goes on, the partition runs on exactly one host,
intact (adapters, mappings, NVRAM as before the migration) and the other
host is exactly as before the migration (``_state``: no partition, mapping,
hdisk, bridged VLAN, switch, authorized key or running job of it), without
running any step again:

- a check or ``pre_live_migration`` raised MigrationPreCheckError naming
  the failure (nova keeps the instance ACTIVE and calls nothing more of
  the driver after a failed preparation); a failed job calls nova's
  recover method and nova rolls back; then the whole migration again
  completes;
- ``post_live_migration_at_destination`` raised a nova exception naming
  the failure (the port's VLAN, the volume's ports), and a retry completes
  it (the source is already clean);
- the source's clean-ups never raise (nova must record the move) and
  leave the source clean; so does the target's roll-back.

``TestNeighboursSSP``: another instance on each host uses the port's VLAN
and the target's RMC switch; a failed or completed migration leaves them.
``TestTargetRestartSSP``: the target's nova-compute restarts between its
preparation and the roll-back of a failed job.
"""
# nova's concurrency set-up first, as in test_fault_matrix.
from nova import monkey_patch
monkey_patch.patch()

import hashlib  # noqa: E402
from unittest import mock  # noqa: E402

from nova import exception as nova_exc  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from nova import objects  # noqa: E402

from nova_powervm.simulator import jobs as sim_jobs  # noqa: E402
from nova_powervm.simulator import partition_mobility_keys as keys  # noqa
from nova_powervm.tests.functional import lpm  # noqa: E402
from nova_powervm.tests.functional import test_fault_matrix as fm  # noqa
from nova_powervm.tests.functional import test_fault_matrix_move as fmm  # noqa
from nova_powervm.tests.functional import test_lifecycle as lc  # noqa: E402
from nova_powervm.tests.functional import test_volumes as tv  # noqa: E402
from nova_powervm.virt.powervm import ids  # noqa: E402
from nova_powervm.virt.powervm import vif as vif_mod  # noqa: E402
from nova_powervm.virt.powervm.volume import npiv  # noqa: E402

# A VLAN only this instance uses: the SEAs bridge it for the port.
VLAN = 1234
# The steps nova runs on the target; the others run on the source.
ON_TARGET = ('check_can_live_migrate_destination', 'pre_live_migration',
             'post_live_migration_at_destination',
             'rollback_live_migration_at_destination')
# Best-effort clean-ups on the source (nova records the move whatever
# they meet): they never raise.
CLEAN_UPS = ('post_live_migration', 'post_live_migration_at_source')
# What both hosts see of the SSP cluster (its LUs and their files).
SHARED = ('ssp', 'disk_data_files')


class _LpmMatrix(fmm._MoveMatrix):
    """A live migration from host 0 to host 1 up to ``step`` (the flow)."""

    step = None
    vscsi = False
    npiv = False
    port = True
    sim_kwargs = dict(fmm._MoveMatrix.sim_kwargs, migration_s=0.0)

    @classmethod
    def setUpClass(cls):
        cls.side = 1 if cls.step in ON_TARGET else 0
        super().setUpClass()

    def prepare(self):
        inst = lc.make_instance(1, image_ref=self.image_id)
        inst.save = lambda: None
        self.neighbours()
        state = {'inst': inst, 'src0': _state(self.sims[0])}
        bdi, meta = None, self.image_meta
        if self.vscsi:
            inst.image_ref = ''
            boot = tv.FakeBDM(boot_index=0, volume_id='vol-boot',
                              connection_info=tv._conn_info('vol-boot', 1))
            bdi = {'block_device_mapping': [boot],
                   'root_device_name': '/dev/sda'}
            meta = objects.ImageMeta.from_dict({})
        if self.npiv:
            # nova asks for the connector first (it makes the WWPNs).
            self.drvs[0].get_volume_connector(inst)
        vifs = network_model.NetworkInfo(
            [lc.sea_vif(1, VLAN)] if self.port else [])
        lpm.spawn(self.drvs[0], self.sims[0], inst, meta, bdi=bdi,
                  vifs=vifs)
        state['image'] = self.fingerprint(0, inst)
        state['src1'] = _state(self.sims[0])
        state['dst0'] = _state(self.sims[1])
        mig = state['mig'] = lpm.LiveMigration(self.drvs, inst, bdi, vifs)
        for name in self.before_steps():
            getattr(mig, name)()
        return state

    def neighbours(self):
        """Other instances on the hosts before the migration."""

    def before_steps(self):
        return lpm.STEPS[:lpm.STEPS.index(self.step)]

    def run_flow(self, state):
        getattr(state['mig'], self.step)()

    # -- where the partition is ---------------------------------------------
    def fingerprint(self, index, inst):
        """The partition on host ``index`` as far as a move keeps it."""
        sim, uuid = self.sims[index], ids.pvm_uuid(inst).upper()
        inv = sim.inventory()
        part = inv['partitions'].get(uuid)
        if part is None:
            return None
        pid = str(part['id'])

        def mine(maps):
            return sorted((m['client_slot'], m.get('storage_type'),
                           m.get('wwpns')) for m in maps
                          if str(m['client']).upper() in (pid, uuid))
        return {'state': part['state'], 'name': part['name'],
                'proc_units': part['proc_units'],
                'memory_mb': part['memory_mb'],
                'adapters': sorted(
                    (a['mac'], a['slot'], a['pvid'], a['vswitch'])
                    for a in inv['client_adapters'].values()
                    if (a['partition'] or '').upper() == uuid),
                'scsi': mine(inv['scsi_mappings']),
                'vfc': mine(inv['vfc_mappings']),
                'nvram': hashlib.sha256(
                    (sim.nvram(uuid) or '').encode()).hexdigest()}

    def assert_on(self, index, state):
        """The partition runs on host ``index`` alone, intact."""
        inst = state['inst']
        self.assertEqual(state['image'], self.fingerprint(index, inst),
                         'the partition on host %d' % index)
        self.assertIsNone(self.fingerprint(1 - index, inst),
                          'a partition left on host %d' % (1 - index))

    def assert_target_clean(self, state):
        """Host 1 exactly as before the migration."""
        self.assertInventory(state['dst0'], _state(self.sims[1]), 'host 1')

    def assert_source_clean(self, state):
        """Host 0 as before the instance came (its LU stays in the pool)."""
        self.assertInventory(
            {k: v for k, v in state['src0'].items() if k not in SHARED},
            _state(self.sims[0], *SHARED), 'host 0')

    # -- what nova does next --------------------------------------------------
    def rolled_back(self, state, nova_rollback=True):
        """nova's roll-back (source, then the target as the source asks;
        none after a refused check or preparation): the partition back on
        host 0 as it was, host 1 clean.  Then the whole migration again
        completes.
        """
        mig = state['mig']
        if nova_rollback:
            self.drvs[0].rollback_live_migration_at_source(None, mig.inst,
                                                           mig.md)
            mig.rollback_live_migration_at_destination()
        self.assert_on(0, state)
        self.assertInventory(state['src1'], _state(self.sims[0]), 'host 0')
        self.assert_target_clean(state)
        mig.run()
        self.assertEqual('post', mig.outcome)
        self.completed(state)

    def completed(self, state):
        """On host 1, intact; host 0 clean."""
        self.assert_on(1, state)
        self.assert_source_clean(state)

    def rest(self, state):
        """nova's steps after this one."""
        mig = state['mig']
        for name in lpm.STEPS[lpm.STEPS.index(self.step) + 1:]:
            getattr(mig, name)()
            if name == 'live_migration' and mig.outcome != 'post':
                # The target's preparation was not enough: nova rolls back.
                self.assertEqual('recover: error', mig.outcome)
                return self.rolled_back(state)
        self.completed(state)

    def check_failed(self, state, before, err):
        if self.step in lpm.STEPS[:3]:
            # Before the partition moves: refused, nova rolls back.
            self.assertIsInstance(err, nova_exc.MigrationPreCheckError)
            self.rolled_back(state, nova_rollback=False)
        else:
            self.assertNotIn(self.step, CLEAN_UPS, 'a clean-up raised')
            # The completion on the target: the source is clean, a retry
            # completes it.
            self.assert_source_clean(state)
            self.run_flow(state)
            self.rest(state)

    def check_succeeded(self, state, before):
        if self.step == 'live_migration' and \
                state['mig'].outcome != 'post':
            self.assertEqual('recover: error', state['mig'].outcome)
            self.rolled_back(state)
        else:
            self.rest(state)


def _state(sim, *skip):
    """What a migration may leave on host ``sim``: its inventory (but
    ``skip``), the VLANs its SEAs bridge, its console's authorized keys,
    its running jobs.
    """
    out = {k: v for k, v in sim.inventory().items() if k not in skip}
    out['sea_vlans'] = sim.call('sea_vlans')
    out['authorized_keys'] = keys.authorized_keys(sim)
    with sim.jobs.lock:
        out['running_jobs'] = sorted(j.op for j in sim.jobs.jobs.values()
                                     if j.status == sim_jobs.RUNNING)
    return out


class _Job(object):
    """The Migrate job: failed, rolled back by PowerVM, or stuck."""

    step = 'live_migration'

    def _injected(self, fail):
        state = self.prepare()
        self.sims[0].set_migration(fail=fail)
        state['mig'].live_migration()
        self.assertEqual('recover: error', state['mig'].outcome)
        self.rolled_back(state)

    def test_migration_rolled_back(self):
        self._injected('rollback')

    def test_migration_stuck(self):
        self._injected('stuck')


def _cells(requests, writes, jobs=0,
           only=('write500', 'amb500', 'job')):
    def generate(cls):
        cls.max_requests, cls.max_writes, cls.max_jobs = (
            requests, writes, jobs)
        cls.max_updates = 99
        return fm._generate(cls, only=only)
    return generate


# The vSCSI flows: their jobs (hdisk discovery and removal; the other
# requests fail as the SSP flows' do).
JOBS = ('job',)
# The checks only read: every request fails.
READS = ('http500',)


@_cells(1, 0, 0, READS)
class TestDestCheckSSP(_LpmMatrix):
    step = 'check_can_live_migrate_destination'


@_cells(2, 0, 0, READS)
class TestSourceCheckSSP(_LpmMatrix):
    step = 'check_can_live_migrate_source'


@_cells(4, 2)
class TestPreLiveMigrationSSP(_LpmMatrix):
    step = 'pre_live_migration'


@_cells(10, 6, 3)
class TestLiveMigrationSSP(_Job, _LpmMatrix):
    pass


@_cells(3, 1)
class TestPostAtSourceSSP(_LpmMatrix):
    step = 'post_live_migration_at_source'


@_cells(5, 1)
class TestPostAtDestinationSSP(_LpmMatrix):
    step = 'post_live_migration_at_destination'


class _Vscsi(object):
    vscsi = True


@_cells(11, 6, 2, JOBS)
class TestPreLiveMigrationVscsi(_Vscsi, _LpmMatrix):
    step = 'pre_live_migration'


@_cells(11, 6, 3, ('amb500', 'job'))
class TestLiveMigrationVscsi(_Vscsi, _LpmMatrix):
    """The job with vSCSI mappings (PowerVM's roll-back of them: see
    TestRollbackAtDestinationVscsi).
    """

    step = 'live_migration'


@_cells(7, 4, 2, JOBS)
class TestPostLiveMigrationVscsi(_Vscsi, _LpmMatrix):
    step = 'post_live_migration'


class _RollbackAtDestination(object):
    """After PowerVM rolled the job back: the target's undo (what
    ``pre_live_migration`` added there goes).
    """

    step = 'rollback_live_migration_at_destination'

    def before_steps(self):
        return lpm.STEPS[:3]

    def prepare(self):
        state = super().prepare()
        self.sims[0].set_migration(fail='rollback')
        state['mig'].live_migration()
        self.drvs[0].rollback_live_migration_at_source(
            None, state['inst'], state['mig'].md)
        return state

    def check_failed(self, state, before, err):
        self.fail('the roll-back raised (best effort): %s' % err)

    def check_succeeded(self, state, before):
        self.rolled_back(state, nova_rollback=False)


@_cells(4, 2)
class TestRollbackAtDestinationSSP(_RollbackAtDestination, _LpmMatrix):
    """The source's key and the RMC switch the migration added go."""


@_cells(11, 6, 2, JOBS)
class TestRollbackAtDestinationVscsi(_RollbackAtDestination, _Vscsi,
                                     _LpmMatrix):
    """The hdisks discovered for the boot volume go too."""


class _Npiv(_Vscsi):
    """The boot volume over NPIV (client adapters' WWPN pairs)."""

    npiv = True
    port = False    # the SSP flows cover the port's VLAN

    def setUp(self):
        super().setUp()
        self.flags(fc_attach_strategy='npiv', group='powervm')
        npiv.fabric_names()


@_cells(5, 2, 0, READS)
class TestPreLiveMigrationNPIV(_Npiv, _LpmMatrix):
    step = 'pre_live_migration'


@_cells(11, 6, 3, JOBS)
class TestLiveMigrationNPIV(_Npiv, _LpmMatrix):
    step = 'live_migration'


@_cells(1, 0, 0, READS)
class TestPostAtDestinationNPIV(_Npiv, _LpmMatrix):
    step = 'post_live_migration_at_destination'


class _Neighbours(object):
    """Instance 2 on host 1 (the port's VLAN, an RMC adapter: the switch
    is there before the migration), instance 3 on host 0 (the VLAN).
    """

    def neighbours(self):
        for index, n, rmc in ((1, 2, True), (0, 3, False)):
            self.flags(use_rmc_mgmt_vif=rmc, group='powervm')
            lpm.spawn(self.drvs[index], self.sims[index],
                      lc.make_instance(n, image_ref=self.image_id),
                      self.image_meta, vifs=network_model.NetworkInfo(
                          [lc.sea_vif(n, VLAN)]))
        self.flags(use_rmc_mgmt_vif=False, group='powervm')


class TestNeighboursSSP(_Neighbours, _Job, _LpmMatrix):
    """What other instances use stays: the target's switch and VLAN after
    a failed (rolled back or stuck) migration, the source's VLAN after the
    completed one that follows.
    """


class TestRollbackRaceSSP(_LpmMatrix):
    """A spawn on the target (its first instance, with an RMC adapter)
    while the roll-back of a failed migration removes the MGMTSWITCH the
    migration created there: whatever the order, the spawn completes and
    the switch stays exactly while an adapter is on it.
    """

    step = 'live_migration'

    def setUp(self):
        super().setUp()
        self.state = self.prepare()
        self.sims[0].set_migration(fail='rollback')
        self.state['mig'].live_migration()
        self.assertEqual('recover: error', self.state['mig'].outcome)
        self.assertIn('MGMTSWITCH', self.switches())
        self.other = lc.make_instance(2, image_ref=self.image_id)

    def switches(self):
        return sorted(v['name'] for v in
                      self.sims[1].inventory()['vswitches'].values())

    def rollback(self):
        mig = self.state['mig']
        self.drvs[0].rollback_live_migration_at_source(None, mig.inst,
                                                       mig.md)
        mig.rollback_live_migration_at_destination()

    def spawn(self):
        self.flags(use_rmc_mgmt_vif=True, group='powervm')
        lpm.spawn(self.drvs[1], self.sims[1], self.other, self.image_meta)

    def assert_spawned(self):
        """Instance 2 runs on host 1 with its RMC adapter on the switch;
        instance 1 is back on host 0.
        """
        uuid = ids.pvm_uuid(self.other).upper()
        inv = self.sims[1].inventory()
        self.assertEqual('running', inv['partitions'][uuid]['state'])
        self.assertEqual(['MGMTSWITCH'], [
            a['vswitch'] for a in inv['client_adapters'].values()
            if (a['partition'] or '').upper() == uuid])
        self.assert_on(0, self.state)
        self.assertEqual([], keys.authorized_keys(self.sims[1]))

    def test_rollback_while_the_spawn_plugs_its_adapter(self):
        real = vif_mod._create_on_partition

        def create(*args, **kwargs):
            # The spawn has the switch; the roll-back runs now.
            self.rollback()
            return real(*args, **kwargs)
        with mock.patch.object(vif_mod, '_create_on_partition',
                               side_effect=create):
            self.spawn()
        self.assert_spawned()

    def test_rollback_after_the_spawn(self):
        self.spawn()
        self.rollback()    # PowerVM refuses: an adapter is on it
        self.assert_spawned()

    def test_rollback_before_the_spawn(self):
        self.rollback()
        self.assertNotIn('MGMTSWITCH', self.switches())
        self.spawn()       # a new switch
        self.assert_spawned()


class TestTargetRestartSSP(_LpmMatrix):
    """The target's nova-compute restarts after ``pre_live_migration``
    (it added the source's key and the MGMTSWITCH), then the job fails:
    the roll-back, from the migrate data nova hands back, still leaves
    host 1 as before, and the migration then completes.
    """

    step = 'live_migration'

    def test_rollback_after_target_restart(self):
        state = self.prepare()
        self.assertNotEqual([], keys.authorized_keys(self.sims[1]))
        switches = self.sims[1].inventory()['vswitches'].values()
        self.assertIn('MGMTSWITCH', [v['name'] for v in switches])
        # A new process: nothing of the preparation in memory.
        self.flags(group='powervm', host=self.sims[1].host,
                   port=self.sims[1].port)
        state['mig'].dst = self.drvs[1] = super(
            fmm._MoveMatrix, self).new_driver()
        self.sims[0].set_migration(fail='rollback')
        state['mig'].live_migration()
        self.assertEqual('recover: error', state['mig'].outcome)
        self.rolled_back(state)
