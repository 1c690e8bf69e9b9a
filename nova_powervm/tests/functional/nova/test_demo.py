"""The README's demo (``python -m nova_powervm.demo``) runs end to end
(two simulated hosts: its last steps migrate a server between them)."""
import os
import re
import subprocess
import sys

import testtools

import nova_powervm

REQUIRED_STEPS = ('start simulator + nova services', 'boot server from image',
                  'console URL (VNC)', 'attach interface',
                  'detach interface', 'snapshot to image', 'reboot (soft)',
                  'reboot (hard)', 'delete server',
                  'boot server from FC volume', 'cold migrate to host 2',
                  'confirm migration', 'inventories of both hosts',
                  'delete migrated server')


class TestDemo(testtools.TestCase):

    def test_demo_runs_every_step(self):
        top = os.path.dirname(os.path.dirname(nova_powervm.__file__))
        proc = subprocess.run(
            [sys.executable, '-m', 'nova_powervm.demo'], cwd=top,
            capture_output=True, text=True, timeout=300, check=False)
        out = proc.stdout
        self.assertEqual(0, proc.returncode,
                         out + '\n' + proc.stderr[-4000:])
        status = {}
        for line in out.splitlines():
            m = re.match(r'^(\S.*?)\s{2,}(ok|FAILED|skipped|not run)\b',
                         line)
            if m:
                status[m.group(1)] = m.group(2)
        for step in REQUIRED_STEPS:
            self.assertEqual('ok', status.get(step), out)
        # Volume steps run whenever the simulator serves FC volumes, and
        # say why when they are skipped.
        for step in ('attach FC volume', 'detach FC volume'):
            self.assertIn(status.get(step), ('ok', 'skipped'), out)
        self.assertRegex(out, r'Summary: \d+ ok, 0 failed')
        self.assertRegex(out, r'boot server from image +ok +[\d.]+ s +'
                              r'[1-9]\d* REST requests')
