"""Peak RSS growth of the driver while streaming a large image (child).

``benchmarks.run`` starts this module in a separate process, pointed at its
simulator, so that the resident memory measured is the driver's (and
pypowervm's and the image service stand-in's) alone, not the simulator's.
The image is generated as it is read (zero bytes, 64 KiB chunks): nothing
holds it whole unless the driver does.

Prints one JSON line: ``{"spawn_2gib": MiB, "snapshot_2gib": MiB, ...}``.

Peak RSS is the kernel's high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs`` before each operation) and, where that reset is
not allowed, the maximum of ``VmRSS`` sampled every 5 ms.
"""
import argparse
import gc
import json
import logging
import math
import os
import sys
import threading
import time

from benchmarks import harness

from nova import objects  # noqa: I100

SMALL_IMAGE = 1024 * 1024


def _status_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def _reset_peak():
    """Reset VmHWM to the current RSS; False when not permitted."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class _Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.peak = max(self.peak, _status_kib('VmRSS'))
            time.sleep(0.005)

    def stop(self):
        self._done.set()
        self.join()
        self.peak = max(self.peak, _status_kib('VmRSS'))


def measure(fn):
    """(MiB of peak RSS above the RSS before ``fn``, method)."""
    gc.collect()
    hwm = _reset_peak()
    base = _status_kib('VmRSS')
    sampler = _Sampler()
    sampler.start()
    try:
        fn()
    finally:
        sampler.stop()
    peak = sampler.peak
    if hwm:
        peak = max(peak, _status_kib('VmHWM'))
    return round((peak - base) / 1024.0, 1), 'VmHWM' if hwm else 'sampled'


def _noop_task_state(task_state, expected_state=None):
    pass


def run(args):
    remote = harness.RemoteSim(args.host, args.port, args.username,
                               os.environ[args.password_env],
                               os.environ[args.admin_token_env])
    size = int(args.size_gib * harness.GiB)
    with harness.Env(remote=remote) as env:
        env.set_volume_group(args.volume_group)
        drv = env.load_driver(listener=False)
        # Warm up (imports, caches, connection pool) with a small image.
        small = env.add_image(SMALL_IMAGE, name='rss-warm-up')
        warm = harness.instance(60, image_ref=small['id'])
        env.spawn(drv, warm, objects.ImageMeta.from_dict(small))
        drv.snapshot(env.context, warm, env.new_snapshot_image('warm'),
                     _noop_task_state)
        drv.destroy(env.context, warm, harness.network_info())

        big = env.add_image(size, name='rss-2gib', data=False)
        meta = objects.ImageMeta.from_dict(big)
        inst = harness.instance(61, image_ref=big['id'],
                                root_gb=int(math.ceil(args.size_gib)))
        start = time.monotonic()
        spawn_mib, how = measure(lambda: env.spawn(drv, inst, meta))
        spawn_s = time.monotonic() - start
        snap_id = env.new_snapshot_image('rss-snap')
        start = time.monotonic()
        snap_mib, _how = measure(lambda: drv.snapshot(
            env.context, inst, snap_id, _noop_task_state))
        snap_s = time.monotonic() - start
        snap_bytes = env.glance.show(None, snap_id)['size']
        drv.destroy(env.context, inst, harness.network_info())
        drv.manage_image_cache(env.context, [])
    return {'spawn_2gib': spawn_mib, 'snapshot_2gib': snap_mib,
            'image_bytes': size, 'snapshot_bytes': snap_bytes,
            'spawn_s': round(spawn_s, 1), 'snapshot_s': round(snap_s, 1),
            'peak_from': how}


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.rss')
    parser.add_argument('--host', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--username', required=True)
    parser.add_argument('--password-env', required=True,
                        help='environment variable holding the password')
    parser.add_argument('--admin-token-env', required=True,
                        help='environment variable holding the simulator '
                             'admin API token')
    parser.add_argument('--volume-group', required=True)
    parser.add_argument('--size-gib', type=float, default=2.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger().setLevel(logging.ERROR)
    result = run(args)
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()
    logging.disable(logging.CRITICAL)
    gc.collect()
    return 0


if __name__ == '__main__':
    sys.exit(main())
