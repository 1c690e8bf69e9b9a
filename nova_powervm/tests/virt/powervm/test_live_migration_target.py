"""Unit tests: what the target prepares for a live migration and undoes
after a failed one (live_migration_target).
"""
from unittest import mock

import fixtures
from nova import test
from pypowervm import exceptions as pvm_exc

from nova_powervm.objects import migrate_data as mig_obj
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

        def delete(adapter, name, host_uuid=None):
            self.switches.pop(name, None)
            return True
        self.vsw = self.useFixture(fixtures.MockPatchObject(
            lpm_tgt.host_net, 'get_vswitch', side_effect=get_vswitch)).mock
        self.delete = self.useFixture(fixtures.MockPatchObject(
            lpm_tgt.host_net, 'delete_unused_vswitch',
            side_effect=delete)).mock
        self.inst = mock.Mock(uuid='inst-1')
        self.inst2 = mock.Mock(uuid='inst-2')

    def assertDeleted(self, times=1):
        self.assertEqual([mock.call(self.drv.adapter, 'MGMTSWITCH',
                                    host_uuid='host-2')] * times,
                         self.delete.call_args_list)

    def test_prepare_adds_key_and_switch(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.console.update.assert_called_once_with()
        self.vsw.assert_called_with(self.drv.adapter, 'MGMTSWITCH',
                                    create=True, host_uuid='host-2')
        self.assertEqual({'inst-1': {'pub': KEY, 'key': True,
                                     'switch': True}},
                         self.drv._lpm_prepared)

    def test_failure_removes_what_it_created(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertEqual(2, self.console.update.call_count)
        self.assertDeleted()
        self.assertEqual({}, self.drv._lpm_prepared)

    def test_success_keeps_them(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.release(self.drv, self.inst, failed=False)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.delete.assert_not_called()

    def test_failure_leaves_what_was_there(self):
        self.console.ssh_authorized_keys = [KEY]
        self.switches['MGMTSWITCH'] = mock.Mock()
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.console.update.assert_not_called()
        self.delete.assert_not_called()

    def test_migration_still_under_way_inherits(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.prepare(self.drv, self.inst2, KEY)
        # The first fails while the second needs the key and switch.
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.delete.assert_not_called()
        # The second fails too: now they go.
        lpm_tgt.release(self.drv, self.inst2, failed=True)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertDeleted()

    def test_other_source_key_is_not_inherited(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.prepare(self.drv, self.inst2, 'ssh-rsa BBBB other-src')
        lpm_tgt.release(self.drv, self.inst, failed=True)
        # Only the failed one's key goes; the switch is inherited.
        self.assertEqual(['other', 'ssh-rsa BBBB other-src'],
                         self.console.ssh_authorized_keys)
        self.delete.assert_not_called()

    def test_success_keeps_the_key_for_one_under_way(self):
        lpm_tgt.prepare(self.drv, self.inst2, KEY)   # adds the key
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        lpm_tgt.release(self.drv, self.inst, failed=False)
        # The one under way fails later: the key serves the migrated one.
        lpm_tgt.release(self.drv, self.inst2, failed=True)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)

    def test_key_added_but_answer_lost_is_removed(self):
        self.console.update.side_effect = [pvm_exc.Error('answer lost'),
                                           None]
        self.assertRaises(pvm_exc.Error, lpm_tgt.prepare, self.drv,
                          self.inst, KEY)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertEqual(2, self.console.update.call_count)
        self.delete.assert_not_called()

    def test_switch_created_but_answer_lost_is_removed(self):
        def create(adapter, name, create=False, host_uuid=None):
            if create:
                self.switches[name] = mock.Mock()
                raise pvm_exc.Error('connection dropped')
        self.vsw.side_effect = create
        self.assertRaises(pvm_exc.Error, lpm_tgt.prepare, self.drv,
                          self.inst, KEY)
        # The key it added and the switch go.
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertDeleted()
        self.assertEqual({}, self.drv._lpm_prepared)

    def test_removal_retried_once(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        self.console.update.side_effect = [pvm_exc.Error('busy'), None]
        self.delete.side_effect = [pvm_exc.Error('busy'), True]
        lpm_tgt.release(self.drv, self.inst, failed=True)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertDeleted(2)

    def test_removal_failing_twice_is_logged(self):
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        # Each read shows the key (the failed updates changed nothing).
        consoles = [mock.Mock(ssh_authorized_keys=['other', KEY])
                    for _ in range(2)]
        for one in consoles:
            one.update.side_effect = pvm_exc.Error('busy')
        lpm_tgt._console.side_effect = consoles
        self.delete.side_effect = pvm_exc.Error('x')
        lpm_tgt.release(self.drv, self.inst, failed=True)
        for one in consoles:
            one.update.assert_called_once_with()
        self.assertDeleted(2)
        self.assertIn("removing the source NovaLink's SSH key failed 2 "
                      "times", self.stdlog.logger.output)
        self.assertIn('removing the virtual switch MGMTSWITCH failed 2 '
                      'times', self.stdlog.logger.output)
        # The first failures are warnings, the last logged with its
        # traceback.
        self.assertIn("removing the source NovaLink's SSH key failed "
                      "(busy); trying again.", self.stdlog.logger.output)
        self.assertIn('Traceback', self.stdlog.logger.output)

    def _restart(self):
        """nova-compute restarts: a new process, no record in memory."""
        self.drv._lpm_prepared = None

    def test_prepare_records_in_migrate_data(self):
        md = mig_obj.PowerVMLiveMigrateData(public_key=KEY)
        lpm_tgt.prepare(self.drv, self.inst, KEY, md)
        self.assertEqual((True, True), (md.dest_added_key,
                                        md.dest_created_switch))
        md2 = mig_obj.PowerVMLiveMigrateData(public_key=KEY)
        lpm_tgt.prepare(self.drv, self.inst2, KEY, md2)
        self.assertEqual((False, False), (md2.dest_added_key,
                                          md2.dest_created_switch))

    def test_rollback_after_restart_from_migrate_data(self):
        md = mig_obj.PowerVMLiveMigrateData(public_key=KEY)
        lpm_tgt.prepare(self.drv, self.inst, KEY, md)
        self._restart()
        # As nova hands it back to the target (over RPC).
        md = mig_obj.PowerVMLiveMigrateData.obj_from_primitive(
            md.obj_to_primitive())
        lpm_tgt.release(self.drv, self.inst, failed=True, migrate_data=md)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertDeleted()
        self.assertIn('no record of preparing', self.stdlog.logger.output)

    def test_rollback_after_restart_leaves_what_was_there(self):
        self.console.ssh_authorized_keys = ['other', KEY]
        self.switches['MGMTSWITCH'] = mock.Mock()
        md = mig_obj.PowerVMLiveMigrateData(public_key=KEY)
        lpm_tgt.prepare(self.drv, self.inst, KEY, md)
        self._restart()
        lpm_tgt.release(self.drv, self.inst, failed=True, migrate_data=md)
        self.console.update.assert_not_called()
        self.delete.assert_not_called()

    def test_rollback_after_restart_one_prepared_since_inherits(self):
        md = mig_obj.PowerVMLiveMigrateData(public_key=KEY)
        lpm_tgt.prepare(self.drv, self.inst, KEY, md)
        self._restart()
        lpm_tgt.prepare(self.drv, self.inst2, KEY)   # finds both there
        lpm_tgt.release(self.drv, self.inst, failed=True, migrate_data=md)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.delete.assert_not_called()
        lpm_tgt.release(self.drv, self.inst2, failed=True)
        self.assertEqual(['other'], self.console.ssh_authorized_keys)
        self.assertDeleted()

    def test_after_restart_nothing_recorded_nothing_removed(self):
        # A source of before the record (1.0): nothing known, all stays.
        lpm_tgt.prepare(self.drv, self.inst, KEY)
        self._restart()
        md = mig_obj.PowerVMLiveMigrateData(public_key=KEY)
        lpm_tgt.release(self.drv, self.inst, failed=True, migrate_data=md)
        self.assertEqual(['other', KEY], self.console.ssh_authorized_keys)
        self.delete.assert_not_called()

    def test_migrate_data_for_an_older_peer(self):
        md = mig_obj.PowerVMLiveMigrateData(
            public_key=KEY, dest_added_key=True, dest_created_switch=False)
        data = md.obj_to_primitive(target_version='1.0')['nova_object.data']
        self.assertEqual({'public_key': KEY}, data)

    def test_best_effort_catches_any_error(self):
        func = mock.Mock(side_effect=[KeyError('x'), 'done'])
        self.assertEqual('done', lpm_tgt.best_effort('cleaning', self.inst,
                                                     func, 1, b=2))
        self.assertEqual([mock.call(1, b=2)] * 2, func.call_args_list)
