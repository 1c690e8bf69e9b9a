"""powervm-simulator: serve the PowerVM REST API simulator."""
import argparse
import logging
import signal
import sys
import threading

from nova_powervm.simulator import control


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog='powervm-simulator',
        description='Serve a simulated NovaLink PowerVM REST API over HTTP.')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to listen on (default 127.0.0.1)')
    p.add_argument('--port', type=int, default=12080,
                   help='port to listen on (default 12080; 0 = any free)')
    p.add_argument('--username', default=control.DEFAULT_USERNAME,
                   help='user accepted at logon (default %(default)s)')
    p.add_argument('--password', default=control.DEFAULT_PASSWORD,
                   help='password accepted at logon (default %(default)s)')
    p.add_argument('--state', metavar='FILE',
                   help='seed state file (written by dump_state); default: '
                        'the built-in NovaLink host')
    p.add_argument('--latency-ms', type=int, default=0,
                   help='extra latency added to every request')
    p.add_argument('--power-delay', type=float, default=0.2,
                   help='seconds a power job takes (default 0.2)')
    p.add_argument('--event-hold', type=float, default=10.0,
                   help='seconds an idle event poll is held (default 10)')
    p.add_argument('--debug', action='store_true', help='debug logging')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO)
    sim = control.Simulator(
        host=args.host, port=args.port, username=args.username,
        password=args.password, state_file=args.state,
        latency_ms=args.latency_ms, power_delay_s=args.power_delay,
        event_hold_s=args.event_hold)
    try:
        sim.start()
    except OSError as e:
        sys.stderr.write('powervm-simulator: cannot listen on %s:%s: %s\n'
                         % (args.host, args.port, e))
        return 1
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *a: done.set())
    print('powervm-simulator ready on %s (host %s, user %s)'
          % (sim.base_url, sim.host_uuid, sim.username), flush=True)
    done.wait()
    sim.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
