"""The PowerVM REST simulator in a process of its own, for the benchmarks.

``python -m benchmarks.simserver`` starts a simulator on a free 127.0.0.1
port, prints one JSON line (host, port, username, password, admin_token: the
admin API's credential, over the pipe to the parent only) and serves until
its standard input is closed.  The benchmarks drive it through its admin
HTTP API (``harness.RemoteSim``), so that the driver process measured shares
neither CPU (the GIL) nor memory with the REST server, as on a real
NovaLink.

Adds the control ``bench_disk_path(disk)`` (``Simulator.disk_path``: the
admin API cannot pass that control's ``name`` argument, which collides with
``Simulator.call``'s own).
"""
import argparse
import cProfile
import json
import logging
import pstats
import sys
import threading

from nova_powervm.simulator import control
from nova_powervm.simulator import registry
from nova_powervm.simulator import server


@registry.control('bench_disk_path')
def _bench_disk_path(sim, disk):
    return sim.disk_path(disk)


class _Profiles(object):
    """Per-request cProfile runs (one per thread), merged at the end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stats = None

    def add(self, prof):
        with self.lock:
            if self.stats is None:
                self.stats = pstats.Stats(prof)
            else:
                self.stats.add(prof)

    def dump(self, path):
        if self.stats is not None:
            self.stats.dump_stats(path)


_PROFILE = _Profiles()


def _profile_requests():
    """Profile each request the server handles (any thread)."""
    real = server.Handler._dispatch

    def dispatch(handler):
        prof = cProfile.Profile()
        prof.enable()
        try:
            return real(handler)
        finally:
            prof.disable()
            _PROFILE.add(prof)
    server.Handler._dispatch = dispatch


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.simserver')
    parser.add_argument('--power-delay', type=float, default=0.2,
                        help='seconds a power job takes')
    parser.add_argument('--event-hold', type=float, default=1.0,
                        help='seconds an idle event poll is held')
    parser.add_argument('--partitions', type=int, default=0,
                        help='seed this many client partitions')
    parser.add_argument('--profile', metavar='FILE',
                        help='profile every request (cProfile, all '
                        'threads) and write the pstats to FILE on exit')
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.profile:
        _profile_requests()
    logging.basicConfig(level=logging.ERROR)
    sim = control.Simulator(host='127.0.0.1', port=0,
                            power_delay_s=args.power_delay,
                            event_hold_s=args.event_hold,
                            partitions=args.partitions)
    sim.start()
    try:
        sys.stdout.write(json.dumps({
            'host': sim.host, 'port': sim.port, 'username': sim.username,
            'password': sim.password,
            'admin_token': sim.admin_token}) + '\n')
        sys.stdout.flush()
        # Serve until the parent closes our stdin (or exits).
        sys.stdin.read()
    finally:
        sim.close()
        if args.profile:
            _PROFILE.dump(args.profile)
    return 0


if __name__ == '__main__':
    sys.exit(main())
