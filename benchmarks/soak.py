"""Soak: many spawn/destroy cycles against one simulator.

``python -m benchmarks.soak --cycles N`` (``benchmarks.run`` calls
:func:`soak`).  Two drivers are loaded in this process, as nova-compute
loads one: a localdisk one and an SSP one, both against the same simulator
(power jobs instantaneous, so the cycles measure the driver, not waits).
Cycle ``i`` spawns one instance through the localdisk driver (odd ``i``)
or the SSP driver (even ``i``), with a config drive every third cycle and,
when the simulator models FC volumes, a vSCSI volume attached and detached
every fourth, then destroys it.  Each cycle's image is one of three, so
the image caches are used and refilled.

Measured: this process's resident set after each cycle; its threads, file
descriptors and sockets after the warm-up and at the end, with the names
of the threads and the targets of the descriptors (a TCP socket's peer)
that differ (``threads_differ``, ``fds_differ``); and whether the
simulator's inventory is back to the seed once the image caches are
emptied.

Two bounded pools would otherwise move those counts without a leak: each
driver's NVRAM thread pool starts its second worker (``pvm-nvram_1``) only
when two saves overlap, and the pooled REST sessions (``http_reuse``) keep
one connection for each request that ran at the same time, up to
``MAX_IDLE``.  So before the baseline every NVRAM worker is started
(:func:`_warm_pools`), and before each count the idle pooled sessions are
closed; what is left is the two event listeners' long polls.  Before its
simulator starts the soak also lets what earlier measurements of
``benchmarks.run`` left in the process end (their pooled sessions, their
in-process simulators' handler threads): otherwise those end during the
cycles and the counts go negative.
"""
import argparse
import collections
import gc
import json
import logging
import os
import sys
import threading
import time

from benchmarks import harness

from nova import objects  # noqa: I100

from nova_powervm.tests.functional import test_volumes
from nova_powervm.virt.powervm import http_reuse

IMAGE_SIZE = 1024 * 1024 + 17
RSS_TARGET_MIB = 32


def _proc_status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


def rss_mib():
    """This process's resident set (MiB)."""
    return _proc_status('VmRSS') / 1024.0


def _hex_addr(text):
    """'0100007F:20FB' (/proc/net/tcp) -> '127.0.0.1:8443' (IPv4 only)."""
    host, port = text.split(':')
    if len(host) == 8:
        host = '.'.join(str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0))
    else:
        host = '[ipv6]'
    return '%s:%d' % (host, int(port, 16))


def _tcp_sockets():
    """{inode: 'tcp->remote' or 'tcp listen local'} of this process."""
    out = {}
    for name in ('tcp', 'tcp6'):
        try:
            with open('/proc/self/net/' + name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == '0A':   # LISTEN
                out[cols[9]] = 'tcp listen ' + _hex_addr(cols[1])
            else:
                out[cols[9]] = 'tcp->' + _hex_addr(cols[2])
    return out


def _fd_target(fd, tcp):
    try:
        target = os.readlink('/proc/self/fd/' + fd)
    except OSError:
        return None
    if ':[' not in target:
        return target
    # socket:[inode] / pipe:[inode]: the kind (and a TCP peer), not the
    # inode
    kind, inode = target[:-1].split(':[', 1)
    if kind == 'socket' and inode in tcp:
        return 'socket ' + tcp[inode]
    return kind


def inventory():
    """Names of this process's threads and targets of its fds (sorted).

    Timer threads are left out: the event handler holds each stop event
    back for ``event.STOP_EVENT_DELAY`` seconds in one, which then ends.
    Socket and pipe targets are reduced to their kind (``socket``), a TCP
    socket's to its peer (``socket tcp->127.0.0.1:8443``).
    """
    tcp = _tcp_sockets()
    targets = [_fd_target(fd, tcp) for fd in os.listdir('/proc/self/fd')]
    threads = [t.name for t in threading.enumerate()
               if not isinstance(t, threading.Timer)]
    return {'threads': sorted(threads),
            'fds': sorted(t for t in targets if t is not None)}


def resources(inv=None):
    """{threads, fds, sockets} of this process (counts of inventory())."""
    inv = inventory() if inv is None else inv
    return {'threads': len(inv['threads']), 'fds': len(inv['fds']),
            'sockets': sum(1 for t in inv['fds'] if t.startswith('socket'))}


def difference(base, end):
    """What inventory() ``end`` has more (+) or fewer (-) of than ``base``.

    :return: {'threads': [...], 'fds': [...]}, each entry '+name' or
             '-name' (thread names with their numbers as they are).
    """
    out = {}
    for key in ('threads', 'fds'):
        more = collections.Counter(end[key])
        more.subtract(collections.Counter(base[key]))
        out[key] = sorted(('+' if n > 0 else '-') + name
                          for name, n in more.items() for _ in range(abs(n)))
    return out


def _warm_pools(drivers):
    """Start every worker of each driver's NVRAM thread pool.

    A pool starts a worker only when none is idle, up to its bound (two),
    and keeps it: whether the second one has started by the baseline
    depends on how events happened to overlap.  This starts it.
    """
    for drv in drivers.values():
        pool = getattr(getattr(drv, 'nvram_mgr', None), '_pool', None)
        if pool is None:
            continue
        n = pool._max_workers
        barrier = threading.Barrier(n, timeout=30)
        for fut in [pool.submit(barrier.wait) for _ in range(n)]:
            fut.result()


def _settled(timers_s=0):
    """inventory() once short-lived threads have ended.

    Idle pooled REST sessions are closed first: the pool (``http_reuse``)
    keeps as many as requests once ran at the same time, up to its bound,
    so their number depends on how requests overlapped, not on leaks.  A
    session never given back keeps its connection and is still counted.

    :param timers_s: also wait up to this long for Timer threads to end.
    """
    http_reuse.close_idle()
    deadline = time.monotonic() + timers_s
    while time.monotonic() < deadline and any(
            isinstance(t, threading.Timer) for t in threading.enumerate()):
        time.sleep(0.2)
    last = None
    for _ in range(20):
        gc.collect()
        now = inventory()
        if now == last:
            return now
        last = now
        time.sleep(0.1)
    return last


def _drivers(env):
    """{'localdisk': driver, 'ssp': driver} (event listeners running)."""
    drivers = {}
    harness.CONF.set_override('disk_driver', 'ssp', group='powervm')
    try:
        drivers['ssp'] = env.load_driver()
    finally:
        harness.CONF.set_override('disk_driver', 'localdisk',
                                  group='powervm')
    drivers['localdisk'] = env.load_driver(alone=False)
    return drivers


def _cycle(env, drivers, metas, i, volumes):
    drv = drivers['ssp' if i % 2 == 0 else 'localdisk']
    meta = metas[i % len(metas)]
    inst = harness.instance(1000 + i, image_ref=meta.id,
                            config_drive=(i % 3 == 0))
    env.spawn(drv, inst, meta)
    if volumes and i % 4 == 1:
        conn = test_volumes._conn_info('soak-vol', 1)
        drv.attach_volume(env.context, conn, inst, '/dev/sdb')
        drv.detach_volume(env.context, conn, inst, '/dev/sdb')
    drv.destroy(env.context, inst, harness.network_info())


def soak(cycles=500, warmup=None, progress=None):
    """Run the cycles in a simulator of their own; the figures (dict).

    :param warmup: cycles before the baseline (default: a tenth, >= 10).
    :param progress: a stream to report progress on, or None.
    """
    from benchmarks import run as bench_run
    warmup = (max(10, cycles // 10) if warmup is None
              else warmup)
    warmup = min(warmup, max(cycles - 1, 0))
    harness.CONF.set_override('remove_unused_base_images', True,
                              group='image_cache')
    # What earlier measurements in this process left (idle pooled
    # sessions, their simulators' handler threads, held-back events) ends
    # now rather than between the baseline and the end.
    _settled(timers_s=20)
    begin = time.monotonic()
    with harness.Env(sim_args=['--power-delay', '0']) as env:
        env.set_volume_group(env.data_vg())
        seed = env.sim.inventory()
        drivers = _drivers(env)
        metas = [objects.ImageMeta.from_dict(env.add_image(
            IMAGE_SIZE + n, name='soak%d' % n)) for n in range(3)]
        volumes = bench_run.fc_simulated()
        rss = []
        base = None
        base_rss = None
        for i in range(cycles):
            _cycle(env, drivers, metas, i, volumes)
            if i + 1 == warmup:
                _warm_pools(drivers)
                base = _settled()
                base_rss = rss_mib()
            rss.append(rss_mib())
            if progress and (i + 1) % 50 == 0:
                progress.write('  %d/%d cycles, RSS %.1f MiB (%.0f s)\n' % (
                    i + 1, cycles, rss[-1], time.monotonic() - begin))
                progress.flush()
        end = _settled(timers_s=20)
        for drv in drivers.values():
            drv.manage_image_cache(env.context, [])
        final = env.sim.inventory()
    if base is None:
        base, base_rss = end, rss[0] if rss else rss_mib()
    grown = difference(base, end)
    base, end = resources(base), resources(end)
    diff = sorted(k for k in set(seed) | set(final)
                  if seed.get(k) != final.get(k))
    step = max(1, cycles // 100)
    return {'cycles': cycles, 'warmup_cycles': warmup,
            'seconds': round(time.monotonic() - begin, 1),
            'rss_growth_mib': round(max(rss[warmup:] or rss) - base_rss, 2),
            # every step-th cycle's RSS (the plot)
            'rss_mib_step': step,
            'rss_mib': [round(x, 1) for x in rss[step - 1::step]],
            'threads_growth': end['threads'] - base['threads'],
            'fds_growth': end['fds'] - base['fds'],
            'sockets_growth': end['sockets'] - base['sockets'],
            # which threads (by name) and fd targets differ from the base
            'threads_differ': grown['threads'],
            'fds_differ': grown['fds'],
            'inventory_restored': not diff,
            'inventory_differs': diff,
            'volumes': volumes}


def table(res, out):
    """Print the soak's figures with the issue's targets."""
    ok = (res['rss_growth_mib'] < RSS_TARGET_MIB and
          not res['threads_growth'] and not res['fds_growth'] and
          not res['sockets_growth'] and res['inventory_restored'])
    out.write(
        '\nSoak: %d spawn/destroy cycles (localdisk and SSP, config drive '
        'and %s) in %.0f s %s\n  RSS growth after %d warm-up cycles %.1f '
        'MiB (target < %d), threads %+d, fds %+d, sockets %+d, inventory '
        'back to the seed: %s%s\n' % (
            res['cycles'], 'volume attach' if res['volumes'] else
            'no volume (FC not simulated)', res['seconds'],
            'ok' if ok else 'MISSED', res['warmup_cycles'],
            res['rss_growth_mib'], RSS_TARGET_MIB, res['threads_growth'],
            res['fds_growth'], res['sockets_growth'],
            res['inventory_restored'],
            '' if res['inventory_restored'] else
            ' (differs: %s)' % ', '.join(res['inventory_differs'])))
    for key in ('threads', 'fds'):
        if res.get(key + '_differ'):
            out.write('  %s vs the baseline: %s\n' % (
                key, ', '.join(res[key + '_differ'])))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.soak',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--cycles', type=int, default=500)
    parser.add_argument('--warmup', type=int, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger().setLevel(logging.ERROR)
    res = soak(args.cycles, args.warmup, progress=sys.stderr)
    table(res, sys.stderr)
    sys.stdout.write(json.dumps(res) + '\n')
    logging.disable(logging.CRITICAL)
    gc.collect()
    return 0


if __name__ == '__main__':
    sys.exit(main())
