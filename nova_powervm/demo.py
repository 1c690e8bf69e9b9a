"""End-to-end demo: nova's services and the PowerVM driver on the simulator.

``python -m nova_powervm.demo`` (``tox -e demo``) starts the PowerVM REST
simulator with two managed systems and nova's API, conductor, scheduler,
Placement and one compute per host in-process (SQLite in memory, an
in-process message bus, nova's fake Neutron and Cinder, a streaming image
service) with ``compute_driver = powervm.PowerVMDriver``, then drives a
server's life on host 1 through the compute REST API, and finally boots a
server from an FC volume on host 1, cold-migrates it to host 2, confirms and
shows both hosts' partitions.  Each step prints its elapsed time and the
REST requests it sent to the simulated hosts; a summary follows.  The exit
status is non-zero when a step fails.

The stack is the one the nova-in-the-loop functional tests use
(``nova_powervm.tests.functional.nova.base_hosts``); the demo borrows that
class only to set up and tear down nova's services (its fixtures need a
testtools case), and runs its own steps.
"""
import argparse
import collections
import gc
import logging
import os
import sys
import time
import traceback


class Step(object):
    def __init__(self, name, needs=(), after=None, missing=None):
        self.name = name
        self.needs = needs          # PowerVMDriver methods this step uses
        self.after = after          # the step this one builds on
        self.missing = missing      # why the simulator cannot do it yet
        self.status = 'not run'
        self.reason = ''
        self.elapsed = 0.0
        self.requests = []


def _missing_driver_methods(names):
    """Driver entry points still inherited from nova's ComputeDriver."""
    from nova.virt import driver as nova_driver

    from nova_powervm.virt.powervm import driver as pvm_driver
    return [n for n in names
            if getattr(pvm_driver.PowerVMDriver, n, None) is
            getattr(nova_driver.ComputeDriver, n, None)]


def _sims(case):
    """The simulated hosts of the stack (host 1 first)."""
    return [case.sim] + [s for s in case.sims.values() if s is not case.sim]


def _is_event_poll(request):
    return request['path'].startswith('/rest/api/uom/Event')


def _request_summary(requests):
    """'N REST requests (GET a, PUT b, ...) + m event polls'.

    The event feed is long-polled all the time by the driver's listener;
    its polls are counted apart from the requests a step made.
    """
    polls = sum(1 for r in requests if _is_event_poll(r))
    by_method = collections.Counter(r['method'] for r in requests
                                    if not _is_event_poll(r))
    detail = ', '.join('%s %d' % kv for kv in sorted(by_method.items()))
    text = '%3d REST requests%s' % (sum(by_method.values()),
                                     ' (%s)' % detail if detail else '')
    if polls:
        text += ' + %d event poll%s' % (polls, 's' if polls > 1 else '')
    return text


class Demo(object):
    """The demo's steps, run against a started stack (``case``)."""

    def __init__(self, out, verbose=False):
        self.out = out
        self.verbose = verbose
        self.steps = []
        self.server = None
        self.volume_id = None
        self.port = None

    def say(self, text=''):
        self.out.write(text + '\n')
        self.out.flush()

    def _report(self, step):
        mark = {'ok': 'ok', 'FAILED': 'FAILED', 'skipped': 'skipped',
                'not run': 'not run'}[step.status]
        line = '%-34s %-8s' % (step.name, mark)
        if step.status in ('ok', 'FAILED'):
            line += '%7.2f s  %s' % (step.elapsed,
                                     _request_summary(step.requests))
        if step.reason:
            line += '\n    ' + step.reason
        self.say(line)
        if self.verbose and step.requests:
            for r in step.requests:
                self.say('      %-6s %s %s (%.1f ms)' % (
                    r['method'], r['status'], r['path'],
                    r.get('duration_ms', 0.0)))

    def run_step(self, case, step, func):
        """Run one step; returns True when it succeeded."""
        self.steps.append(step)
        missing = _missing_driver_methods(step.needs)
        if missing:
            step.status = 'skipped'
            step.reason = ('PowerVMDriver does not implement %s yet'
                           % ', '.join(missing))
        elif step.missing:
            step.status = 'skipped'
            step.reason = step.missing
        elif step.after is not None and step.after.status == 'skipped':
            step.status = 'skipped'
            step.reason = 'needs "%s", which was skipped' % step.after.name
        elif step.after is not None and step.after.status != 'ok':
            step.status = 'not run'
            step.reason = '"%s" failed' % step.after.name
        else:
            for sim in _sims(case):
                sim.clear_request_log()
            start = time.monotonic()
            try:
                detail = func()
                step.status = 'ok'
                step.reason = detail or ''
            except Exception as exc:
                step.status = 'FAILED'
                step.reason = '%s: %s' % (type(exc).__name__, exc)
                if self.verbose:
                    step.reason += '\n' + traceback.format_exc()
            step.elapsed = time.monotonic() - start
            step.requests = [r for sim in _sims(case)
                             for r in sim.request_log()]
        self._report(step)
        return step.status == 'ok'

    def run(self, case, setup_seconds):
        sim = case.sim
        start_step = Step('start simulator + nova services')
        start_step.status = 'ok'
        start_step.elapsed = setup_seconds
        start_step.requests = sim.request_log()
        start_step.reason = 'nova-compute host %s, driver %s' % (
            case.compute.host, type(case.compute.manager.driver).__name__)
        self.steps.append(start_step)
        self._report(start_step)

        boot = Step('boot server from image', needs=('spawn',))
        self.run_step(case, boot, lambda: self._boot(case))
        attach = Step('attach FC volume', after=boot,
                      needs=('attach_volume', 'get_volume_connector'))
        self.run_step(case, attach, lambda: self._attach(case))
        self.run_step(
            case, Step('console URL (VNC)', needs=('get_vnc_console',),
                       after=boot),
            lambda: self._console(case))
        plug = Step('attach interface', needs=('attach_interface',),
                    after=boot)
        self.run_step(case, plug, lambda: self._attach_interface(case))
        self.run_step(
            case, Step('detach interface', needs=('detach_interface',),
                       after=plug),
            lambda: self._detach_interface(case))
        self.run_step(
            case, Step('snapshot to image', needs=('snapshot',), after=boot),
            lambda: self._snapshot(case))
        for kind in ('SOFT', 'HARD'):
            self.run_step(
                case, Step('reboot (%s)' % kind.lower(), needs=('reboot',),
                           after=boot),
                lambda kind=kind: self._reboot(case, kind))
        self.run_step(
            case, Step('detach FC volume', needs=('detach_volume',),
                       after=attach),
            lambda: self._detach(case))
        self.run_step(
            case, Step('delete server', needs=('destroy',), after=boot),
            lambda: self._delete(case))
        self._run_migration(case)

    def _run_migration(self, case):
        """Boot from a volume on host 1, cold migrate to host 2, confirm."""
        boot = Step('boot server from FC volume', needs=('spawn',))
        self.run_step(case, boot, lambda: self._boot_volume(case))
        move = Step('cold migrate to host 2', after=boot,
                    needs=('migrate_disk_and_power_off', 'finish_migration'))
        self.run_step(case, move, lambda: self._migrate(case))
        confirm = Step('confirm migration', after=move,
                       needs=('confirm_migration',))
        self.run_step(case, confirm, lambda: self._confirm(case))
        self.run_step(case, Step('inventories of both hosts', after=confirm),
                      lambda: self._inventories(case))
        self.run_step(
            case, Step('delete migrated server', needs=('destroy',),
                       after=boot),
            lambda: self._delete_migrated(case))

    # -- steps -------------------------------------------------------------
    def _boot(self, case):
        # Host 1 (the scheduler could pick either host).
        self.server = case._boot(networks='auto', host=case.compute.host)
        lpar = case._assert_running_with_disk(self.server)
        return 'server %s ACTIVE; partition %s running' % (
            self.server['id'], case._uuid_of(lpar))

    def _attach(self, case):
        self.volume_id = case._attach_fc_volume(self.server)
        return 'volume %s in-use; %s' % (
            self.volume_id, case._describe_volume_mapping(self.server))

    def _console(self, case):
        """os-remote-consoles, then what nova's VNC proxy does with it."""
        from nova import context as nova_context
        from nova import objects

        from nova_powervm.simulator import rfb_client
        cons = case.api.api_post(
            '/servers/%s/remote-consoles' % self.server['id'],
            {'remote_console': {'protocol': 'vnc', 'type': 'novnc'}}
        ).body['remote_console']
        auth = objects.ConsoleAuthToken.validate(
            nova_context.get_admin_context(),
            rfb_client.console_token(cons['url']))
        sock, _answer, greeting = rfb_client.rfb_connect(
            auth.host, int(auth.port), auth.internal_access_path)
        sock.close()
        if not greeting.startswith(b'RFB '):
            raise AssertionError('no RFB greeting from %s:%s: %r' % (
                auth.host, auth.port, greeting))
        return '%s; %s:%s answers %r' % (cons['url'], auth.host, auth.port,
                                         greeting.decode().strip())

    def _cnas(self, case):
        from nova_powervm.simulator import xmlutil as xu
        return sorted(xu.text(c, 'MACAddress')
                      for c in case._adapters_of(self.server)
                      if xu.text(c, 'VirtualSwitchName') != 'MGMTSWITCH')

    def _attach_interface(self, case):
        # The guest's RMC connection is up (DLPAR), as on a booted OS.
        case.sim.set_rmc(case._pvm_uuid(self.server))
        self.port = case.neutron.port_1
        before = self._cnas(case)
        case.api.attach_interface(
            self.server['id'],
            {'interfaceAttachment': {'port_id': self.port['id']}})
        added = sorted(set(self._cnas(case)) - set(before))
        want = self.port['mac_address'].replace(':', '').upper()
        if added != [want]:
            raise AssertionError('expected adapter %s, added %s' % (
                want, added))
        return 'port %s: adapter %s on the running partition' % (
            self.port['id'], want)

    def _detach_interface(self, case):
        case.api.detach_interface(self.server['id'], self.port['id'])
        want = self.port['mac_address'].replace(':', '').upper()
        case._wait_for(lambda: want not in self._cnas(case),
                       'the adapter to go')
        return 'port %s: adapter %s removed' % (self.port['id'], want)

    def _snapshot(self, case):
        image = case._snapshot(self.server)
        return 'image %s active, %d bytes streamed to the image service' % (
            image['id'], image['size'])

    def _reboot(self, case, kind):
        case.api.post_server_action(self.server['id'],
                                    {'reboot': {'type': kind}})
        case._wait_for_status(self.server, 'ACTIVE')
        ops = case._job_ops()
        state = case._state(self.server)
        # A restart is a PowerOff job that leaves the partition running.
        if 'PowerOff' not in ops or state != 'running':
            raise AssertionError('expected a PowerOff job and a running '
                                 'partition; jobs %s, partition %s' %
                                 (ops, state))
        return 'jobs: %s; partition %s' % (', '.join(ops), state)

    def _detach(self, case):
        # nova's volume detach calls the driver only where CONF.host is
        # the instance's host; in-process computes share one CONF (the
        # last started compute's name).
        case.flags(host=case.compute.host)
        case._detach_volume(self.server, self.volume_id)
        left = case._volume_mappings(self.server)
        if left:
            raise AssertionError('hdisk mappings left: %s' % left)
        return 'volume %s %s; no hdisk mapped to the partition' % (
            self.volume_id, case.cinder.volumes[self.volume_id]['status'])

    def _delete(self, case):
        case._delete(self.server)
        left = case._inventory_diff(
            case._without_storage(case.start_inventory),
            case._without_storage(case.sim.inventory()))
        if left:
            raise AssertionError('simulator not back to its starting '
                                 'state: %s' % left)
        cached = ', '.join(case._data_vg_disks()) or 'none'
        return ('partition, mappings, adapters and disk gone; image cache '
                'kept for the next boot: %s' % cached)

    def _boot_volume(self, case):
        vol_id = case.cinder.add_fc_volume(case._fc_targets(), lun=9,
                                           bootable=True)
        body = case._build_server(image_uuid='', flavor_id=case.flavor,
                                  networks='none')
        body.pop('imageRef', None)
        body['host'] = case.compute.host
        body['block_device_mapping_v2'] = [{
            'source_type': 'volume', 'destination_type': 'volume',
            'boot_index': 0, 'uuid': vol_id}]
        self.moved = case._wait_for_status(
            case.api.post_server({'server': body}), 'ACTIVE')
        return 'server %s ACTIVE on %s; %s' % (
            self.moved['id'], case._host_of(self.moved),
            case._describe_volume_mapping(self.moved))

    def _migrate(self, case):
        self.moved = case._move(self.moved, {'migrate': None})
        host = case._host_of(self.moved)
        if host != case.compute2.host:
            raise AssertionError('server on %s, not %s' % (
                host, case.compute2.host))
        return 'VERIFY_RESIZE on %s; the source partition is stopped' % host

    def _confirm(self, case):
        self.moved = case._confirm(self.moved)
        if case._lpar_on(case.sim, self.moved) is not None:
            raise AssertionError('the source partition is still there')
        return 'ACTIVE on %s; the source partition is gone' % (
            case._host_of(self.moved))

    def _inventories(self, case):
        lines = []
        for host, sim in sorted(case.sims.items()):
            inv = sim.inventory()
            parts = sorted('%s (%s)' % (p['name'], p['state'])
                           for p in inv['partitions'].values()
                           if p['type'] == 'LogicalPartition' and
                           not p['mgmt'])
            lines.append('%s: client partitions %s; %d hdisk mappings' % (
                host, ', '.join(parts) or 'none', sum(
                    1 for m in inv['scsi_mappings']
                    if m['storage_type'] == 'PhysicalVolume')))
        return '\n    '.join(lines)

    def _delete_migrated(self, case):
        case._delete(self.moved)
        return 'server %s deleted on %s' % (self.moved['id'],
                                            case.compute2.host)

    def summary(self, total):
        counts = collections.Counter(s.status for s in self.steps)
        requests = [r for s in self.steps for r in s.requests]
        self.say()
        self.say('Summary: %d ok, %d failed, %d skipped, %d not run; '
                 '%.1f s; %s to the simulator' % (
                     counts['ok'], counts['FAILED'], counts['skipped'],
                     counts['not run'], total,
                     _request_summary(requests).strip()))
        for step in self.steps:
            if step.status == 'skipped':
                self.say('  skipped: %s (%s)' % (step.name, step.reason))
        return 1 if counts['FAILED'] or counts['not run'] else 0


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog='python -m nova_powervm.demo', description=__doc__.split(
            '\n\n')[0])
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='list every REST request and full tracebacks')
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    # nova's test fixtures capture stdout/stderr and logging when these are
    # set (tox sets them for the test environments); the demo talks to the
    # terminal.
    for var in ('OS_STDOUT_CAPTURE', 'OS_STDERR_CAPTURE'):
        os.environ[var] = '0'
    # nova's services in native threads (nova's direction; eventlet is
    # deprecated) unless the caller chose otherwise.
    os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
    begin = time.monotonic()

    import testtools

    from nova_powervm.tests.functional.nova import base
    from nova_powervm.tests.functional.nova import base_hosts

    if base.sim_fixture is None:
        out.write('nova-powervm demo: the PowerVM REST simulator '
                  '(nova_powervm.simulator.fixture) is not available.\n')
        return 1

    demo = Demo(out, verbose=args.verbose)

    class DemoStack(base_hosts.TwoHostsTestCase):
        """nova + driver + two simulated hosts, set up and torn down by
        testtools.
        """

        # NovaLink's local logon: the VNC console's terminal command runs
        # locally (here: the simulator's, first on PATH).
        POWERVM_FLAGS = {'password': None}

        def setUp(self):
            from nova_powervm.simulator import fixture as sim_fixture
            self.flags(group='vnc', server_proxyclient_address='127.0.0.1')
            super().setUp()
            self.useFixture(sim_fixture.VtermCommandsFixture(self.sim))
            # nova's services log as they stop; keep the demo's output to
            # its steps (cleanups run last-in first-out: this one first).
            self.addCleanup(logging.disable, logging.INFO)

        def runTest(self):
            demo.run(self, time.monotonic() - begin)

    import nova.version
    out.write('nova-powervm demo: nova %s in-process, PowerVMDriver against '
              'the PowerVM REST simulator\n\n' %
              nova.version.version_string())
    result = testtools.TestResult()
    DemoStack('runTest').run(result)
    status = demo.summary(time.monotonic() - begin)
    problems = result.errors + result.failures
    for _case, text in problems:
        out.write('\nThe demo stack failed outside a step:\n%s\n' % text)
    # pypowervm sessions log off when collected; the simulator is gone, so
    # collect them now, quietly, rather than at interpreter exit.
    logging.disable(logging.CRITICAL)
    gc.collect()
    if problems:
        return 1
    return status


if __name__ == '__main__':
    sys.exit(main())
