"""Partition consoles (mkvterm/rmvterm, the RFB server) and set_rmc."""
import io
import os
import socket
import struct
import subprocess
import time
from unittest import mock
import urllib.error

import fixtures
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import vterm as pvm_vterm
from pypowervm.wrappers import base_partition as bp
from pypowervm.wrappers import logical_partition as pvm_lpar

from nova_powervm.simulator.rfb_client import recv_exact
from nova_powervm.simulator import vterm_cmd
from nova_powervm.tests.simulator import base


class TestConsole(base.SimTestCase):

    def setUp(self):
        super().setUp()
        lpar = pvm_lpar.LPAR.bld(
            self.adpt, 'con-lpar', bp.PartitionMemoryConfiguration.bld(
                self.adpt, 1024),
            bp.PartitionProcessorConfiguration.bld_shared(self.adpt, 0.5, 1))
        self.lpar = lpar.create(parent=self.host())

    def wait_gone(self):
        deadline = time.monotonic() + 5
        while self.sim.vnc_console(self.lpar.uuid) is not None:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)

    def test_mkvterm_serves_rfb(self):
        rc, out, err = self.sim.mkvterm(lpar_id=self.lpar.id)
        self.assertEqual((0, ''), (rc, err))
        port = int(out)
        self.assertTrue(self.sim.inventory()['partitions'][self.lpar.uuid][
            'vterm'])
        with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
            self.assertEqual(b'RFB 003.008\n', recv_exact(s, 12))
            s.sendall(b'RFB 003.008\n')
            self.assertEqual(b'\x01\x01', recv_exact(s, 2))
            s.sendall(b'\x01')
            self.assertEqual(b'\0\0\0\0', recv_exact(s, 4))
            s.sendall(b'\x01')
            width, height = struct.unpack('!HH', recv_exact(s, 4))
            self.assertEqual((640, 480), (width, height))
            recv_exact(s, 16)
            name_len = struct.unpack('!I', recv_exact(s, 4))[0]
            self.assertEqual(b'con-lpar', recv_exact(s, name_len))
        # Open again: rc 3 with the same port, as mkvterm answers.
        rc, out2, _err = self.sim.mkvterm(lpar_id=self.lpar.id)
        self.assertEqual((3, out), (rc, out2))
        self.assertEqual(0, self.sim.rmvterm(lpar_id=self.lpar.id)[0])
        self.wait_gone()
        self.assertFalse(self.sim.inventory()['partitions'][self.lpar.uuid][
            'vterm'])
        self.assertRaises(OSError, socket.create_connection,
                          ('127.0.0.1', port), 1)

    def test_out_of_band_terminal_has_no_port(self):
        self.sim.open_vterm(self.lpar.uuid)
        rc, out, err = self.sim.mkvterm(lpar_id=self.lpar.id)
        self.assertEqual((3, ''), (rc, out))
        self.assertIn('already open', err)

    def test_unknown_partition(self):
        rc, out, err = self.sim.mkvterm(lpar_id=99)
        self.assertEqual((1, ''), (rc, out))
        self.assertIn('99', err)
        self.assertEqual(1, self.sim.rmvterm(lpar_id=99)[0])

    def test_close_vterm_job_and_delete(self):
        self.sim.mkvterm(lpar_id=self.lpar.id)
        # Deleting the partition is refused while the terminal is open.
        self.assertRaises(pvm_exc.HttpError, self.lpar.delete)
        # A remote API session: close_vterm runs the CloseVterm job.
        pvm_vterm.close_vterm(self.adpt, self.lpar.uuid)
        self.wait_gone()
        self.lpar.delete()

    def test_reset_stops_server(self):
        self.sim.mkvterm(lpar_id=self.lpar.id)
        self.sim.reset()
        self.wait_gone()

    def test_set_rmc(self):
        self.sim.set_rmc(self.lpar.uuid)
        lpar = pvm_lpar.LPAR.get(self.adpt, uuid=self.lpar.uuid)
        self.assertEqual('active', lpar.rmc_state)
        self.assertTrue(lpar.capabilities.io_dlpar)
        self.sim.set_rmc(self.lpar.uuid, active=False)
        lpar = pvm_lpar.LPAR.get(self.adpt, uuid=self.lpar.uuid)
        self.assertEqual('inactive', lpar.rmc_state)
        self.assertFalse(lpar.capabilities.io_dlpar)


class TestVtermCommand(base.SimTestCase):
    """The commands pypowervm runs, over the admin API."""

    def setUp(self):
        super().setUp()
        lpar = pvm_lpar.LPAR.bld(
            self.adpt, 'cmd-lpar', bp.PartitionMemoryConfiguration.bld(
                self.adpt, 1024),
            bp.PartitionProcessorConfiguration.bld_shared(self.adpt, 0.5, 1))
        self.lpar = lpar.create(parent=self.host())
        self.bin = self.useFixture(fixtures.TempDir()).path
        vterm_cmd.install(self.bin, self.sim)

    def run_cmd(self, *args):
        proc = subprocess.run([os.path.join(self.bin, args[0])] +
                              list(args[1:]), capture_output=True,
                              text=True, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    def test_mkvterm_rmvterm(self):
        lid = str(self.lpar.id)
        rc, out, err = self.run_cmd('mkvterm', '--id', lid, '--vnc',
                                    '--local')
        self.assertEqual(0, rc, err)
        self.assertEqual({'port': int(out), 'sessions': 0},
                         self.sim.vnc_console(self.lpar.uuid))
        rc, out2, _err = self.run_cmd('mkvterm', '--id', lid, '--vnc',
                                      '--local')
        self.assertEqual((3, out), (rc, out2))
        rc, _out, err = self.run_cmd('rmvterm', '--id', lid)
        self.assertEqual(0, rc, err)
        self.assertFalse(self.sim.vterm_open(self.lpar.uuid))

    def test_unknown_partition(self):
        rc, _out, err = self.run_cmd('mkvterm', '--id', '77', '--vnc',
                                     '--local')
        self.assertEqual(1, rc)
        self.assertIn('77', err)

    def test_main_without_admin_token_fails(self):
        with mock.patch.dict(os.environ, {
                vterm_cmd.URL_ENV: self.sim.base_url,
                vterm_cmd.TOKEN_ENV: os.devnull}), \
                mock.patch('sys.stderr', io.StringIO()):
            self.assertRaises(urllib.error.HTTPError, vterm_cmd.main,
                              ['rmvterm', '--id', '1'])
