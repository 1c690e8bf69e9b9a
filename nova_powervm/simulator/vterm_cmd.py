"""``mkvterm`` / ``rmvterm`` for the simulator (what pypowervm runs).

On NovaLink pypowervm opens a partition's console by running ``mkvterm
--id <n> --vnc --local`` and closes it with ``rmvterm --id <n>``.  This
module is those commands for a simulator: it calls the simulator's
``mkvterm`` / ``rmvterm`` controls over the admin API and prints and exits
as they say.  :func:`install` writes the two commands into a directory to
put first on ``PATH``.

Environment: ``POWERVM_SIM_URL`` (the simulator's base URL) and
``POWERVM_SIM_ADMIN_TOKEN_FILE`` (its admin token file).  Only the
standard library is used: it starts once per command.
"""
import argparse
import json
import os
import shlex
import stat
import sys
import urllib.request

URL_ENV = 'POWERVM_SIM_URL'
TOKEN_ENV = 'POWERVM_SIM_ADMIN_TOKEN_FILE'
COMMANDS = ('mkvterm', 'rmvterm')


def _call(control, **kwargs):
    with open(os.environ[TOKEN_ENV]) as f:
        token = f.read().strip()
    req = urllib.request.Request(
        os.environ[URL_ENV].rstrip('/') + '/sim/admin/call/' + control,
        data=json.dumps(kwargs).encode(), method='POST',
        headers={'X-Sim-Admin-Token': token,
                 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())['result']


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog='vterm_cmd')
    parser.add_argument('command', choices=COMMANDS)
    parser.add_argument('--id', required=True, type=int, dest='lpar_id')
    parser.add_argument('--vnc', action='store_true')
    parser.add_argument('--local', action='store_true')
    parser.add_argument('--consolesettings')
    args = parser.parse_args(argv)
    if args.command == 'mkvterm':
        rc, out, err = _call('mkvterm', lpar_id=args.lpar_id, vnc=args.vnc)
    else:
        rc, out, err = _call('rmvterm', lpar_id=args.lpar_id)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


def install(bin_dir, sim):
    """Write ``mkvterm`` and ``rmvterm`` for ``sim`` into ``bin_dir``."""
    # This very package, wherever it was imported from.
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    for cmd in COMMANDS:
        path = os.path.join(bin_dir, cmd)
        with open(path, 'w') as f:
            f.write('#!/bin/sh\nPYTHONPATH=%s %s=%s %s=%s exec %s -m %s %s '
                    '"$@"\n' % (
                        shlex.quote(top), URL_ENV, shlex.quote(sim.base_url),
                        TOKEN_ENV, shlex.quote(sim.admin_token_file),
                        shlex.quote(sys.executable), __name__, cmd))
        os.chmod(path, stat.S_IRWXU)


if __name__ == '__main__':
    sys.exit(main())
