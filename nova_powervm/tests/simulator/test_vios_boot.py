"""Slow VIOSes: a host reboot seen through pypowervm."""
import time

from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import virtual_io_server as pvm_vios
import requests

from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_core


def _states(adpt):
    return sorted((w.name, w.state, w.rmc_state)
                  for w in pvm_vios.VIOS.get(adpt))


def _wait(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


class TestSlowViosesAtStart(base.SimTestCase):

    sim_kwargs = dict(base.SimTestCase.sim_kwargs, vios_boot_s=0.6,
                      vios_rmc_s=0.6)

    def test_vioses_come_up_after_the_rest_server(self):
        self.assertEqual([('vios1', 'not activated', 'inactive'),
                          ('vios2', 'not activated', 'inactive')],
                         _states(self.adpt))
        self.assertEqual([], pvm_par.get_active_vioses(self.adpt))
        # What the driver's storage flows build on refuses to start.
        self.assertRaises(pvm_exc.NotEnoughActiveVioses,
                          pvm_par.build_active_vio_feed_task, self.adpt)
        self.assertTrue(_wait(lambda: _states(self.adpt)[0][1] ==
                              'running'))
        # Booted, RMC not yet up: still not "active" for pypowervm.
        self.assertEqual([('vios1', 'running', 'inactive'),
                          ('vios2', 'running', 'inactive')],
                         _states(self.adpt))
        self.assertEqual([], pvm_par.get_active_vioses(self.adpt))
        self.assertTrue(_wait(lambda: len(
            pvm_par.get_active_vioses(self.adpt)) == 2))
        self.assertEqual([('vios1', 'running', 'active'),
                          ('vios2', 'running', 'active')],
                         _states(self.adpt))
        # The management partition (REST server) was up all along.
        self.assertEqual('running', pvm_lpar.LPAR.get(
            self.adpt, uuid=self.sim.mgmt_uuid).state)

    def test_reset_replays_the_boot(self):
        self.assertTrue(_wait(lambda: len(
            pvm_par.get_active_vioses(self.adpt)) == 2))
        self.sim.reset()
        self.assertEqual([], pvm_par.get_active_vioses(self.adpt))
        self.assertTrue(_wait(lambda: len(
            pvm_par.get_active_vioses(self.adpt)) == 2))


class TestRebootHost(base.SimTestCase):

    def test_reboot_host_control(self):
        w = test_core.build_lpar(self)
        self.sim.set_partition_state(w.uuid, 'running')
        self.assertEqual(2, len(pvm_par.get_active_vioses(self.adpt)))
        self.sim.reboot_host(vios_boot_s=0.3, vios_rmc_s=0.3)
        self.assertEqual('not activated', w.refresh().state)
        self.assertEqual([], pvm_par.get_active_vioses(self.adpt))
        self.assertTrue(_wait(lambda: len(
            pvm_par.get_active_vioses(self.adpt)) == 2))
        # Client partitions stay off (nova decides what to restart).
        self.assertEqual('not activated', w.refresh().state)
        self.assertEqual('running', pvm_lpar.LPAR.get(
            self.adpt, uuid=self.sim.mgmt_uuid).state)

    def test_vios_that_never_comes_up(self):
        self.sim.reboot_host(vios_boot_s=None)
        time.sleep(0.3)
        self.assertEqual([('vios1', 'not activated', 'inactive'),
                          ('vios2', 'not activated', 'inactive')],
                         _states(self.adpt))
        # RMC that never comes up: running, never active.
        self.sim.reboot_host(vios_boot_s=0, vios_rmc_s=None)
        self.assertEqual([('vios1', 'running', 'inactive'),
                          ('vios2', 'running', 'inactive')],
                         _states(self.adpt))
        # validate_vios_ready gives up at once with a zero wait.
        self.assertRaises(pvm_exc.ViosNotAvailable,
                          pvm_par.validate_vios_ready,
                          self.adpt, 0)

    def test_later_reboot_supersedes_an_earlier_boot(self):
        self.sim.reboot_host(vios_boot_s=0.2)
        self.sim.reboot_host(vios_boot_s=None)
        time.sleep(0.5)
        self.assertEqual([], pvm_par.get_active_vioses(self.adpt))

    def test_over_the_admin_api(self):
        r = requests.post(self.fix.admin_url + 'call/reboot_host',
                          json={'vios_boot_s': 0.2},
                          headers=self.fix.admin_headers(), timeout=5)
        self.assertEqual(200, r.status_code)
        self.assertEqual(sorted(self.sim.vios_uuids), sorted(
            r.json()['result']))
        self.assertEqual([], pvm_par.get_active_vioses(self.adpt))
        self.assertTrue(_wait(lambda: len(
            pvm_par.get_active_vioses(self.adpt)) == 2))
