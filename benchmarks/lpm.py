"""REST requests and wall time of live partition mobility.

One live migration of an SSP instance between two simulated hosts of one
SSP cluster, in this process, split per nova step
(``nova_powervm.tests.functional.lpm``: nova's driver calls in nova's
order; the exact counts are pinned by test_request_counts_lpm); then one
migration against ``n`` concurrent ones between the same two hosts (each
a thread running nova's steps for its instance, as nova's workers would).
The simulated Migrate job takes ``MIGRATION_S`` (PowerVM copying the
partition's memory), so the ratio shows what the driver serializes.
"""
import concurrent.futures
import time

from nova import objects

from benchmarks import move as bench_move
from nova_powervm.tests.functional import lpm as func_lpm
from nova_powervm.tests.functional import test_lifecycle as lc

# The simulated Migrate job's duration (the simulator's default).
MIGRATION_S = 0.1


def live_migration(env, image_size):
    """{'requests': {step: n}, 'seconds': {step: s}} of one migration."""
    meta = objects.ImageMeta.from_dict(env.add_image(image_size,
                                                     name='bench-lpm'))
    res = func_lpm.measure(bench_move._Case(env), meta,
                           migration_s=MIGRATION_S)
    out = {'requests': {k: n for k, (n, _s) in res.items()},
           'seconds': {k: s for k, (_n, s) in res.items()}}
    out['requests']['total'] = sum(out['requests'].values())
    out['seconds']['total'] = round(sum(out['seconds'].values()), 3)
    out['job_s'] = MIGRATION_S
    return out


def concurrency(env, image_size, n=4):
    """Seconds of one live migration and of ``n`` concurrent ones."""
    meta = objects.ImageMeta.from_dict(env.add_image(
        image_size, name='bench-lpm-concurrency'))
    fx, drvs = func_lpm.two_hosts(bench_move._Case(env), MIGRATION_S)
    migs = []
    for i in range(n + 1):
        inst = lc.make_instance(i + 1, image_ref=meta.id)
        func_lpm.spawn(drvs[0], fx.sims[0], inst, meta)
        migs.append(func_lpm.LiveMigration(drvs, inst))
    start = time.monotonic()
    migs[0].run()
    single = time.monotonic() - start
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        for fut in [pool.submit(m.run) for m in migs[1:]]:
            fut.result()
    many = time.monotonic() - start
    failed = [m.inst.uuid for m in migs if m.outcome != 'post']
    if failed:
        raise AssertionError('live migrations of %s did not complete'
                             % failed)
    return {'n': n, 'single_s': round(single, 3), 'n_s': round(many, 3),
            'ratio': round(many / single, 2), 'job_s': MIGRATION_S}


def measure(env, image_size, n=4):
    """Both measurements: {'one': ..., 'concurrency': ...}."""
    return {'one': live_migration(env, image_size),
            'concurrency': concurrency(env, image_size, n=n)}


def write(res, out):
    """The live migration lines of the table."""
    one, conc = res['one'], res['concurrency']
    out.write('\nLive migration, two hosts, SSP (in-process simulator, '
              'Migrate job %.1f s)\n' % one['job_s'])
    for step, n in one['requests'].items():
        out.write('  %-36s %4d requests %7.3f s\n'
                  % (step, n, one['seconds'][step]))
    out.write('  1 migration %.2f s, %d concurrent %.2f s: ratio %.2f\n'
              % (conc['single_s'], conc['n'], conc['n_s'], conc['ratio']))
