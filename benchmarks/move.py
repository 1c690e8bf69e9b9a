"""REST requests and wall time of resize, cold migration and evacuation.

A resize is nova's migrate_disk_and_power_off, finish_migration and
confirm_migration on one host: power off, the new flavor applied to the
partition, the boot disk grown, power on.  A cold migration and an
evacuation run on two simulated hosts of one SSP cluster, in this process
(``nova_powervm.tests.functional.moves``; the exact counts are pinned by
test_request_counts_move and, for the resize, test_request_counts), next to
a spawn on the same hosts.
"""
from nova import objects

from benchmarks import harness
from nova_powervm import conf as cfg
from nova_powervm.tests.functional import moves as func_moves

CONF = cfg.CONF


class _Case(object):
    """What ``moves.measure`` needs of a test case, on the env's fixture."""

    def __init__(self, env):
        self.useFixture = env.host.useFixture
        self.addCleanup = env.host.addCleanup

    def flags(self, group=None, **kw):
        for name, value in kw.items():
            CONF.set_override(name, value, group=group)
            self.addCleanup(CONF.clear_override, name, group=group)


def migrate_evacuate(env, image_size):
    """{'requests': {step: n}, 'seconds': {step: s}} on two hosts."""
    meta = objects.ImageMeta.from_dict(env.add_image(image_size,
                                                     name='bench-move'))
    res = func_moves.measure(_Case(env), meta)
    return {'requests': {k: n for k, (n, _s) in res.items()},
            'seconds': {k: s for k, (_n, s) in res.items()}}


def resize(env, image_size):
    """{'requests': {step: n}, 'seconds': {step: s}} of one resize.

    A driver of its own (``load_driver`` shuts down the earlier ones: their
    event listeners would read the partition at each of the resize's
    events), so the counts do not depend on what ran before; its first
    power off reads the PowerOff job template (pinned by
    test_request_counts.test_resize).
    """
    drv = env.load_driver(listener=False)
    meta = objects.ImageMeta.from_dict(env.add_image(image_size))
    inst = harness.instance(40, image_ref=meta.id)
    env.spawn(drv, inst, meta)
    new = inst.flavor.obj_clone()
    new.name, new.vcpus, new.memory_mb = 'bench.big', 2, 4096
    # A file-backed volume group's disks cannot grow (the resize is refused).
    grow = bool(drv.disk_dvr.capabilities.get('extend'))
    new.root_gb += int(grow)
    vifs = harness.network_info()
    res = func_moves.resize(env.sim, drv, inst, new, meta, vifs)
    drv.destroy(env.context, inst, vifs)
    out = {'requests': {k: n for k, (n, _s) in res.items()},
           'seconds': {k: s for k, (_n, s) in res.items()},
           'disk_grown': grow}
    out['requests']['total'] = sum(out['requests'].values())
    out['seconds']['total'] = round(sum(out['seconds'].values()), 3)
    return out


def write(res, out, moves=None):
    """The resize (and migration, evacuation) lines of the table."""
    out.write('\nResize on one host (localdisk; power off, flavor, %s'
              'power on)\n' % ('disk grow, ' if res['disk_grown'] else ''))
    for step, n in res['requests'].items():
        out.write('  %-28s %4d requests %7.3f s\n'
                  % (step, n, res['seconds'][step]))
    if moves:
        out.write('\nTwo hosts, SSP (in-process simulator): spawn, cold '
                  'migration + confirm, evacuation\n')
        for step, n in moves['requests'].items():
            out.write('  %-34s %4d requests %7.3f s\n'
                      % (step, n, moves['seconds'][step]))
