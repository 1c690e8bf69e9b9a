"""powervm-simulator: serve the PowerVM REST API simulator."""
import argparse
import logging
import os
import signal
import sys
import threading

from nova_powervm.simulator import control
from nova_powervm.simulator import san as sim_san


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog='powervm-simulator',
        description='Serve a simulated NovaLink PowerVM REST API over HTTP.')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to listen on (default 127.0.0.1; any other '
                        'address prints a warning naming what is exposed)')
    p.add_argument('--port', type=int, default=12080,
                   help='port to listen on (default 12080; 0 = any free)')
    p.add_argument('--username', default=control.DEFAULT_USERNAME,
                   help='user accepted at logon (default %(default)s)')
    p.add_argument('--password', default=control.DEFAULT_PASSWORD,
                   help='password accepted at logon (default %(default)s)')
    p.add_argument('--file-user', action='append', dest='file_users',
                   metavar='USER',
                   help='user accepted by file-based (local, passwordless) '
                        'logon; repeat for more (default: --username)')
    p.add_argument('--state-dir', metavar='DIR',
                   help='the only directory the simulator writes to (session '
                        'files, admin-token, dump_state files); default: a '
                        'temporary one removed at exit')
    p.add_argument('--admin-token', metavar='TOKEN',
                   help='token the admin API (/sim/admin/) requires in its '
                        'X-Sim-Admin-Token header (default: random; always '
                        'written to <state-dir>/admin-token)')
    p.add_argument('--no-admin-api', dest='admin_api', action='store_false',
                   help='do not serve the admin API at all')
    p.add_argument('--mc-type', default='PVM', choices=['PVM', 'HMC'],
                   help='management console the server claims to be '
                        '(X-MC-Type header): PVM = NovaLink (default), HMC')
    p.add_argument('--vios-boot-delay', type=float, default=0.0,
                   metavar='SECONDS',
                   help='VIOSes are "not activated" for this long after '
                        'start (or a reboot_host control), as after a host '
                        'reboot')
    p.add_argument('--vios-rmc-delay', type=float, default=0.0,
                   metavar='SECONDS',
                   help='then running with RMC inactive for this long')
    p.add_argument('--state', metavar='FILE',
                   help='seed state file (written by dump_state); default: '
                        'the built-in NovaLink host')
    p.add_argument('--latency-ms', type=int, default=0,
                   help='extra latency added to every request')
    p.add_argument('--power-delay', type=float, default=0.2,
                   help='seconds a power job takes (default 0.2)')
    p.add_argument('--migration-delay', type=float, default=0.1,
                   help='seconds a partition migration takes (default 0.1)')
    p.add_argument('--event-hold', type=float, default=10.0,
                   help='seconds an idle event poll is held (default 10)')
    p.add_argument('--hosts', type=int, default=1, metavar='N',
                   help='simulate N managed systems whose VIOSes share one '
                        'SSP cluster, each on its own port (--port, '
                        '--port+1, ...; with --port 0 any free ones); '
                        'default 1')
    p.add_argument('--partitions', type=int, default=0, metavar='N',
                   help='seed N client partitions, each with a network '
                        'adapter and a vSCSI-mapped logical volume, as '
                        'spawned ones (default 0)')
    p.add_argument('--mgmt-disk-dir', metavar='DIR',
                   help='make each disk mapped to the management partition '
                        'a link DIR/scsi-...<UDID> to its contents file, as '
                        'the disk appears in NovaLink\'s /dev/disk/by-id '
                        '(with --hosts N: DIR/host<n>); default: off')
    p.add_argument('--guest-rmc', action='store_true',
                   help='client partitions have an active RMC connection '
                        'while running, as a guest OS running RSCT would '
                        '(live partition mobility needs it); default: off')
    p.add_argument('--debug', action='store_true', help='debug logging')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO)
    if args.hosts < 1:
        sys.stderr.write('powervm-simulator: --hosts must be at least 1\n')
        return 2
    if args.hosts > 1 and args.state:
        sys.stderr.write('powervm-simulator: --state serves one host; it '
                         'cannot be combined with --hosts\n')
        return 2
    if args.partitions and args.state:
        sys.stderr.write('powervm-simulator: --state replaces the seed; it '
                         'cannot be combined with --partitions\n')
        return 2
    shared = sim_san.San() if args.hosts > 1 else None
    sims = []
    for index in range(args.hosts):
        port = args.port + index if args.port else 0
        state_dir = args.state_dir
        if state_dir and args.hosts > 1:
            # One directory per host (session files, admin token).
            state_dir = os.path.join(state_dir, 'host%d' % index)
            os.makedirs(state_dir, mode=0o700, exist_ok=True)
        disk_dir = args.mgmt_disk_dir
        if disk_dir and args.hosts > 1:
            disk_dir = os.path.join(disk_dir, 'host%d' % index)
        sim = control.Simulator(
            host=args.host, port=port, username=args.username,
            password=args.password, state_file=args.state,
            latency_ms=args.latency_ms, power_delay_s=args.power_delay,
            event_hold_s=args.event_hold, file_users=args.file_users,
            state_dir=state_dir, admin_api=args.admin_api,
            admin_token=args.admin_token, mc_type=args.mc_type,
            vios_boot_s=args.vios_boot_delay, vios_rmc_s=args.vios_rmc_delay,
            san=shared, partitions=args.partitions,
            migration_s=args.migration_delay, mgmt_disk_dir=disk_dir,
            guest_rmc=args.guest_rmc)
        try:
            sim.start()
        except OSError as e:
            sys.stderr.write('powervm-simulator: cannot listen on %s:%s: %s\n'
                             % (args.host, port, e))
            for started in sims:
                started.close()
            return 1
        sims.append(sim)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *a: done.set())
    for sim in sims:
        admin = ('admin token in %s' % sim.admin_token_file if sim.admin_api
                 else 'admin API off')
        print('powervm-simulator ready on %s (host %s, user %s; %s)'
              % (sim.base_url, sim.host_uuid, sim.username, admin),
              flush=True)
    done.wait()
    for sim in sims:
        sim.close()
    if shared is not None:
        shared.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
