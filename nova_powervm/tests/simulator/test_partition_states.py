"""Virtual terminals and partition states, driven through pypowervm."""
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power
from pypowervm.tasks import power_opts as popts
from pypowervm.tasks import vterm
from pypowervm.wrappers import logical_partition as pvm_lpar
import requests

from nova_powervm.simulator import cli
from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_core


def _hard_off(part):
    power.PowerOp.stop(part, opts=popts.PowerOffOpts().vsp_hard())


class TestVterm(base.SimTestCase):

    def test_open_vterm_refuses_delete_until_closed(self):
        w = test_core.build_lpar(self)
        self.sim.open_vterm(w.uuid)
        self.assertTrue(self.sim.vterm_open(w.uuid))
        self.assertTrue(self.sim.inventory()['partitions'][w.uuid]['vterm'])
        e = self.assertRaises(pvm_exc.HttpError, self.adpt.delete,
                              'LogicalPartition', root_id=w.uuid)
        self.assertEqual(409, e.response.status)
        # The real API's code, in the HttpErrorResponse message.
        self.assertIn('HSCL151B', e.her_wrap.message)
        self.assertIsNotNone(self.sim.get_object('LogicalPartition', w.uuid))

        self.sim.clear_request_log()
        vterm.close_vterm(self.adpt, w.uuid)
        log = self.sim.request_log()
        self.assertEqual(['GET', 'PUT', 'DELETE'],
                         [r['method'] for r in log])
        self.assertTrue(log[0]['path'].endswith('/do/CloseVterm'))
        self.assertFalse(self.sim.vterm_open(w.uuid))
        self.adpt.delete('LogicalPartition', root_id=w.uuid)
        self.assertIsNone(self.sim.get_object('LogicalPartition', w.uuid))

    def test_close_without_vterm_succeeds(self):
        w = test_core.build_lpar(self)
        vterm.close_vterm(self.adpt, w.uuid)
        self.assertFalse(self.sim.vterm_open(w.uuid))

    def test_vterm_survives_power_cycle(self):
        w = test_core.build_lpar(self)
        self.sim.open_vterm(w.uuid)
        power.power_on(w, None)
        _hard_off(w.refresh())
        self.assertTrue(self.sim.vterm_open(w.uuid))
        self.assertRaises(pvm_exc.HttpError, self.adpt.delete,
                          'LogicalPartition', root_id=w.uuid)

    def test_open_twice_and_unknown_partition(self):
        w = test_core.build_lpar(self)
        self.sim.open_vterm(w.uuid)
        self.assertRaises(ValueError, self.sim.open_vterm, w.uuid)
        # A UUID that differs from the partition's (whatever it is).
        other = ('8' if w.uuid[0] != '8' else '9') + w.uuid[1:]
        self.assertRaises(KeyError, self.sim.open_vterm, other)

    def test_open_vterm_over_admin_api(self):
        w = test_core.build_lpar(self)
        r = requests.post(self.fix.admin_url + 'call/open_vterm',
                          json={'lpar_uuid': w.uuid},
                          headers=self.fix.admin_headers(), timeout=5)
        self.assertEqual(200, r.status_code)
        self.assertTrue(self.sim.vterm_open(w.uuid))

    def test_reset_closes_vterms(self):
        w = test_core.build_lpar(self)
        self.sim.open_vterm(w.uuid)
        self.sim.reset()
        self.assertEqual({}, {u: p for u, p in
                              self.sim.inventory()['partitions'].items()
                              if p['vterm']})


class TestPartitionStates(base.SimTestCase):

    def setUp(self):
        super().setUp()
        self.w = test_core.build_lpar(self)

    def state(self, value):
        self.sim.set_partition_state(self.w.uuid, value)
        return self.w.refresh()

    def test_power_off_refused_states(self):
        for state in ('not available', 'hardware discovery',
                      'migrating running', 'migrating not active',
                      'suspended', 'Unknown'):
            part = self.state(state)
            e = self.assertRaises(pvm_exc.VMPowerOffFailure, _hard_off,
                                  part)
            self.assertIn('cannot be shut down while it is %s' % state,
                          str(e))
            # A failed job changes nothing.
            self.assertEqual(state, self.w.refresh().state)

    def test_power_off_allowed_states(self):
        for state in ('running', 'starting', 'open firmware', 'error',
                      'shutting down', 'suspending', 'resuming'):
            _hard_off(self.state(state))
            self.assertEqual('not activated', self.w.refresh().state,
                             state)

    def test_already_off_is_success_for_pypowervm(self):
        # HSCL1558: pypowervm's PowerOp.stop treats it as done.
        _hard_off(self.state('not activated'))
        self.assertEqual('not activated', self.w.refresh().state)

    def test_power_on_refused_states(self):
        for state in ('error', 'suspended', 'not available',
                      'migrating not active'):
            part = self.state(state)
            e = self.assertRaises(pvm_exc.VMPowerOnFailure,
                                  power.PowerOp.start, part)
            self.assertIn('cannot be activated while it is %s' % state,
                          str(e))
            self.assertEqual(state, self.w.refresh().state)

    def test_delete_refused_unless_off(self):
        for state in ('running', 'open firmware', 'error', 'suspended',
                      'migrating running', 'migrating not active',
                      'not available', 'starting'):
            self.state(state)
            e = self.assertRaises(pvm_exc.HttpError, self.adpt.delete,
                                  'LogicalPartition', root_id=self.w.uuid)
            self.assertEqual(409, e.response.status, state)
            self.assertIn(state, e.her_wrap.message)
        self.state('not activated')
        self.adpt.delete('LogicalPartition', root_id=self.w.uuid)
        self.assertRaises(pvm_exc.HttpError, pvm_lpar.LPAR.get, self.adpt,
                          uuid=self.w.uuid)

    def test_unknown_state_refused_by_control(self):
        self.assertRaises(ValueError, self.sim.set_partition_state,
                          self.w.uuid, 'sleeping')
        r = requests.post(self.fix.admin_url + 'partitions/%s/state'
                          % self.w.uuid, json={'state': 'sleeping'},
                          headers=self.fix.admin_headers(), timeout=5)
        self.assertEqual(400, r.status_code)
        self.assertEqual('not activated', self.w.refresh().state)


class TestGuestRmc(base.SimTestCase):
    """--guest-rmc: a running client partition's RMC is up, as with RSCT."""

    sim_kwargs = dict(base.SimTestCase.sim_kwargs, guest_rmc=True)

    def test_rmc_and_dlpar_follow_power(self):
        w = test_core.build_lpar(self)
        self.assertEqual('inactive', w.rmc_state)
        power.PowerOp.start(w)
        w = w.refresh()
        self.assertEqual(('running', 'active'), (w.state, w.rmc_state))
        caps = w.capabilities
        self.assertEqual((True, True, True),
                         (caps.io_dlpar, caps.mem_dlpar, caps.proc_dlpar))
        _hard_off(w)
        w = w.refresh()
        self.assertEqual(('not activated', 'inactive'),
                         (w.state, w.rmc_state))
        self.assertFalse(w.capabilities.mem_dlpar)

    def test_cli_option(self):
        self.assertTrue(cli.parse_args(['--guest-rmc']).guest_rmc)
        self.assertFalse(cli.parse_args([]).guest_rmc)
