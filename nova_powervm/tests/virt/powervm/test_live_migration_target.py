"""Unit tests: what the target prepares for a live migration and undoes
after a failed one (live_migration_target).
"""
from unittest import mock

import fixtures
from nova import test
from pypowervm import exceptions as pvm_exc

from nova_powervm.virt.powervm import live_migration_target as lpm_tgt

KEY = 'ssh-rsa AAAA src'


class TestTarget(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = mock.Mock(_lpm_prepared=None, host_uuid='host-2')
        self.console = mock.Mock(uuid='mc-1', ssh_authorized_keys=['other'])
        self.useFixture(fixtures.MockPatchObject(
            lpm_tgt, '_console', return_value=self.console))
        self.switches = {}

        def get_vswitch(adapter, name, create=False, host_uuid=None):
            if name not in self.switches and create:
                self.switches[name] = mock.Mock()
            return self.switches.get(name)
        self.vsw = self.useFixture(fixtures.MockPatchObject(
            lpm_tgt.host_net, 'get_vswitch', side_effect=get_vswitch)).mock
        self.useFixture(fixtures.MockPatchObject(
            lpm_tgt.host_net, 'reset_cache'))
        self.inst = mock.Mock(uuid='inst-1')
        self.inst2 = mock.Mock(uuid='inst-2')

    def test_prepare_adds_key_and_switch(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.console.update.assert_called_once_with()
        self.vsw.assert_called_with(self.drv.adapter, 'MGMTSWITCH',
                                    create=True, host_uuid='host-2')
        self.assertEqual({'inst-1': {'key': KEY, 'switch': True}},
                         self.drv._lpm_prepared)

    def test_failure_removes_what_it_created(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        switch = self.switches['MGMTSWITCH']
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertEqual(2, self.console.update.call_count)
        switch.delete.assert_called_once_with()
        lpm_tgt.host_net.reset_cache.assert_called_once_with(
            self.drv.adapter)
        self.assertEqual({}, self.drv._lpm_prepared)

    def test_success_keeps_them(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.release(self.drv, self.inst, failed=False)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.switches['MGMTSWITCH'].delete.assert_not_called()

    def test_failure_leaves_what_was_there(self):
        self.console.ssh_authorized_keys = [KEY]
        switch = self.switches['MGMTSWITCH'] = mock.Mock()
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.console.update.assert_not_called()
        switch.delete.assert_not_called()

    def test_migration_still_under_way_inherits(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.prepare(self.drv, self.inst2, KEY)
        switch = self.switches['MGMTSWITCH']
        # The first fails while the second needs the key and switch.
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        switch.delete.assert_not_called()
        # The second fails too: now they go.
        lpm_tgt.release(self.drv, self.inst2, failed=True)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        switch.delete.assert_called_once_with()

    def test_failed_prepare_releases(self):
        self.vsw.side_effect = pvm_exc.Error('switch refused')
        self.assertRaises(pvm_exc.Error, lpm_tgt.prepare, self.drv,
                          self.inst, KEY)
        # The key it added is removed again.
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertEqual({}, self.drv._lpm_prepared)

    def test_removal_failure_is_logged(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        self.console.update.side_effect = pvm_exc.Error('busy')
        self.switches['MGMTSWITCH'].delete.side_effect = pvm_exc.Error('x')
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.assertIn("Removing the source NovaLink's SSH key",
                      self.stdlog.logger.output)
        self.assertIn('Removing the virtual switch MGMTSWITCH',
                      self.stdlog.logger.output)
