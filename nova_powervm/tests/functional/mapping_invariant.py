"""What a driver operation may change of the VIOSes' vSCSI mappings.

:class:`MappingInvariantFixture` wraps the driver's VIOS-mutating
operations for one test.  Around each call it reads every simulated VIOS's
vSCSI mappings (the simulator's ``scsi_mappings`` snapshot: VIOS, client,
slots, storage, target device) and, after it, checks that:

* every partition but the instance operated on has exactly the mappings it
  had (other instances, and the management partition: a snapshot's mapping
  to it is gone again), whether the operation succeeded or failed;
* for operations that keep the instance's disks (snapshot: all its
  mappings; volume attach/detach/extend, rescue, unrescue, power actions),
  the instance's boot disk is still mapped where it was.

A call that overlaps another wrapped call (concurrent spawns) is not
checked: the other one may change its own instance meanwhile.  Violations
are collected (nova-compute would swallow an exception raised inside an
operation) and fail the test at cleanup.
"""
import functools
import inspect
import threading

import fixtures

from nova_powervm.simulator import registry as sim_registry
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import ids

# Operation: what it may change of its own instance's mappings.
FREE, BOOT_KEPT, ALL_KEPT = 'free', 'boot disk kept', 'all kept'
OPERATIONS = {
    'spawn': FREE, 'destroy': FREE,
    'snapshot': ALL_KEPT,
    'rescue': BOOT_KEPT, 'unrescue': BOOT_KEPT,
    'attach_volume': BOOT_KEPT, 'detach_volume': BOOT_KEPT,
    'extend_volume': BOOT_KEPT,
    'power_on': BOOT_KEPT, 'power_off': BOOT_KEPT, 'reboot': BOOT_KEPT,
    'migrate_disk_and_power_off': FREE, 'finish_migration': FREE,
    'finish_revert_migration': FREE, 'confirm_migration': FREE,
    'live_migration': FREE, 'post_live_migration': FREE,
    'post_live_migration_at_destination': FREE,
    'rollback_live_migration_at_destination': FREE,
    'pre_live_migration': FREE,
}


def mapping_state(sims):
    """{client UUID (upper): sorted [mapping dict]} over every VIOS of sims.

    A mapping dict: the simulator's ``scsi_mappings`` snapshot entry (VIOS
    name, client and server slots, storage type and name, target device).
    """
    snap = sim_registry.SNAPSHOTS['scsi_mappings']
    out = {}
    for n, sim in enumerate(sims):
        with sim.lock:
            maps = snap(sim)
        for m in maps:
            entry = dict(m, host=n)
            out.setdefault(m['client'], []).append(
                tuple(sorted((k, str(v)) for k, v in entry.items())))
    return {k: sorted(v) for k, v in out.items()}


def boot_disks(state, uuid, instance):
    """The entries of state for instance's boot disk (its mappings)."""
    names = {disk_dvr.DiskAdapter.get_disk_name(disk_dvr.DiskType.BOOT,
                                                instance, short=short)
             for short in (False, True)}
    return [e for e in state.get(uuid, ()) if dict(e)['storage'] in names]


class MappingInvariantFixture(fixtures.Fixture):
    """Check :data:`OPERATIONS` of every PowerVMDriver during a test.

    :param test: the test case (failed at cleanup on a violation).
    :param sims: a callable returning the simulators to read.
    """

    def __init__(self, test, sims):
        super().__init__()
        self.test, self.sims = test, sims
        self.violations = []
        self._lock = threading.Lock()
        self._running = 0
        self._shared = False    # wrapped calls overlapped since idle
        self.checked = 0

    def _setUp(self):
        for name, rule in OPERATIONS.items():
            orig = getattr(driver.PowerVMDriver, name, None)
            if orig is not None:
                self.useFixture(fixtures.MonkeyPatch(
                    'nova_powervm.virt.powervm.driver.PowerVMDriver.' + name,
                    self._wrap(name, rule, orig)))
        self.test.addCleanup(self._report)

    def _report(self):
        if self.violations:
            self.test.fail('vSCSI mapping invariant violated:\n' +
                           '\n'.join(self.violations))

    def _wrap(self, name, rule, orig):
        sig = inspect.signature(orig)
        fixture = self

        @functools.wraps(orig)
        def wrapper(drv, *args, **kwargs):
            instance = sig.bind(drv, *args, **kwargs).arguments['instance']
            fixture._enter()
            before = mapping_state(fixture.sims())
            try:
                return orig(drv, *args, **kwargs)
            finally:
                after = mapping_state(fixture.sims())
                if fixture._leave():
                    fixture._check(name, rule, instance, before, after)
        return wrapper

    def _enter(self):
        with self._lock:
            self._running += 1
            self._shared = self._shared or self._running > 1

    def _leave(self):
        """Whether the call ran alone (no other wrapped call overlapped)."""
        with self._lock:
            alone = not self._shared
            self._running -= 1
            if not self._running:
                self._shared = False
            return alone

    def _check(self, name, rule, instance, before, after):
        self.checked += 1
        own = ids.pvm_uuid(instance).upper()
        for uuid in sorted(set(before) | set(after)):
            if uuid != own and before.get(uuid) != after.get(uuid):
                self.violations.append(
                    '%s of %s changed the mappings of partition %s:\n'
                    '  before: %s\n  after:  %s' % (
                        name, own, uuid, before.get(uuid),
                        after.get(uuid)))
        if rule == ALL_KEPT and before.get(own) != after.get(own):
            self.violations.append(
                '%s changed the mappings of its instance %s:\n'
                '  before: %s\n  after:  %s' % (
                    name, own, before.get(own), after.get(own)))
        elif rule == BOOT_KEPT:
            gone = set(boot_disks(before, own, instance)) - set(
                boot_disks(after, own, instance))
            if gone:
                self.violations.append(
                    '%s unmapped the boot disk of its instance %s: %s' % (
                        name, own, sorted(gone)))
