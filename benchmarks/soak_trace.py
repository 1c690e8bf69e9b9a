"""What grows during the soak: tracemalloc snapshots between cycles.

``python -m benchmarks.soak_trace --cycles 150 --warmup 30`` runs
``benchmarks.soak``'s spawn/destroy cycles (localdisk and SSP, config
drive, volume attach) with tracemalloc on, snapshots after the warm-up and
at the end, and prints the allocation sites (``--frames`` deep) whose
memory grew most, plus the RSS growth.  Not part of ``benchmarks.run``
(tracemalloc slows the cycles several times): a tool for finding leaks.
"""
import argparse
import gc
import linecache
import logging
import sys
import time
import tracemalloc

from benchmarks import harness
from benchmarks import soak

from nova import objects  # noqa: I100


def _frames(stat, limit):
    out = []
    for frame in list(stat.traceback)[-limit:]:
        name = frame.filename.rsplit('site-packages/', 1)[-1]
        out.append('      %s:%d  %s' % (name, frame.lineno, linecache.getline(
            frame.filename, frame.lineno).strip()))
    return out


def run(cycles, warmup, frames, top, out):
    from benchmarks import run as bench_run
    harness.CONF.set_override('remove_unused_base_images', True,
                              group='image_cache')
    tracemalloc.start(frames)
    with harness.Env(sim_args=['--power-delay', '0']) as env:
        env.set_volume_group(env.data_vg())
        drivers = soak._drivers(env)
        metas = [objects.ImageMeta.from_dict(env.add_image(
            soak.IMAGE_SIZE + n, name='soak%d' % n)) for n in range(3)]
        volumes = bench_run.fc_simulated()
        base = None
        begin = time.monotonic()
        for i in range(cycles):
            soak._cycle(env, drivers, metas, i, volumes)
            if i + 1 == warmup:
                gc.collect()
                base = tracemalloc.take_snapshot()
                base_rss = soak.rss_mib()
                base_traced = tracemalloc.get_traced_memory()[0]
            if (i + 1) % 50 == 0:
                out.write('  %d/%d cycles, RSS %.1f MiB, traced %.1f MiB '
                          '(%.0f s)\n' % (
                              i + 1, cycles, soak.rss_mib(),
                              tracemalloc.get_traced_memory()[0] / 2 ** 20,
                              time.monotonic() - begin))
                out.flush()
        soak._settled(timers_s=20)
        gc.collect()
        end = tracemalloc.take_snapshot()
        rss = soak.rss_mib()
        traced = tracemalloc.get_traced_memory()[0]
        for drv in drivers.values():
            drv.manage_image_cache(env.context, [])
    filters = [tracemalloc.Filter(False, tracemalloc.__file__),
               tracemalloc.Filter(False, linecache.__file__)]
    end = end.filter_traces(filters)
    base = base.filter_traces(filters)
    n = cycles - warmup
    out.write('\n%d cycles after %d warm-up: RSS %+.2f MiB, traced Python '
              'memory %+.2f MiB (%.1f KiB/cycle)\n' % (
                  n, warmup, rss - base_rss, (traced - base_traced) / 2 ** 20,
                  (traced - base_traced) / 1024.0 / max(n, 1)))
    out.write('\nTop growth by line:\n')
    for stat in end.compare_to(base, 'lineno')[:top]:
        out.write('  %+8.1f KiB %+7d blocks  %s\n' % (
            stat.size_diff / 1024.0, stat.count_diff,
            stat.traceback[0]))
    out.write('\nTop growth by traceback:\n')
    for stat in end.compare_to(base, 'traceback')[:top]:
        out.write('  %+8.1f KiB %+7d blocks\n' % (stat.size_diff / 1024.0,
                                                 stat.count_diff))
        out.write('\n'.join(_frames(stat, frames)) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.soak_trace',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--cycles', type=int, default=150)
    parser.add_argument('--warmup', type=int, default=30)
    parser.add_argument('--frames', type=int, default=12)
    parser.add_argument('--top', type=int, default=15)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger().setLevel(logging.ERROR)
    run(args.cycles, args.warmup, args.frames, args.top, sys.stdout)
    logging.disable(logging.CRITICAL)
    return 0


if __name__ == '__main__':
    sys.exit(main())
