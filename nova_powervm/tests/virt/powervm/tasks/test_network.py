"""Unit tests for tasks/network.py: flows with reverts (vif mocked)."""
from unittest import mock

import fixtures
from nova.compute import task_states
from nova import exception as nova_exc
from nova import test
from pypowervm import exceptions as pvm_exc
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.tests.virt.powervm.tasks import fakes
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import network as tf_net


LPAR_W = mock.Mock(assoc_sys_uuid='HOST')


def _run(*tasks, fail=False):
    flow = tf_lf.Flow('f')
    flow.add(fakes.Provide('lpar_wrap', LPAR_W), *tasks)
    if fail:
        flow.add(fakes.Fail(name='fail'))
    return tf_eng.run(flow)


class TestPlugVifs(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.vif = self.useFixture(fixtures.MockPatchObject(
            tf_net, 'vif', autospec=True)).mock
        self.vif.plug_vifs.return_value = [
            mock.Mock(cna=mock.sentinel.cna1)]
        self.vif.get_cnas.return_value = [mock.sentinel.old]
        self.inst = mock.Mock(task_state=task_states.SPAWNING)
        self.inst.name = 'vm1'
        self.virtapi = mock.MagicMock()
        self.nwinfo = [{'id': 'p1', 'type': 'pvm_sea', 'active': True}]

    def test_new_partition_plugs_without_reading_adapters(self):
        # Decided by the flow (it created the partition), whatever the
        # task state: spawn, evacuation, a cold migration's target.
        for state in (task_states.SPAWNING, task_states.REBUILD_SPAWNING,
                      task_states.RESIZE_FINISH, None):
            self.inst.task_state = state
            self.vif.plug_vifs.reset_mock()
            res = _run(tf_net.PlugVifs(self.virtapi, 'adpt', self.inst,
                                       self.nwinfo, new_partition=True))
            self.assertEqual([mock.sentinel.cna1], res['vm_cnas'])
            self.vif.plug_vifs.assert_called_once_with(
                'adpt', self.inst, self.nwinfo, lpar_wrap=LPAR_W,
                cna_list=[])
        self.assertFalse(self.vif.get_cnas.called)
        self.assertFalse(self.virtapi.wait_for_instance_event.called)

    def test_existing_partition_reads_adapters(self):
        # Not created by the flow (host start, interface attach): read,
        # even in a spawning task state.
        for state in (None, task_states.SPAWNING):
            self.inst.task_state = state
            self.vif.reset_mock()
            res = _run(tf_net.PlugVifs(self.virtapi, 'adpt', self.inst,
                                       self.nwinfo))
            self.assertEqual([mock.sentinel.old, mock.sentinel.cna1],
                             res['vm_cnas'])
            self.vif.get_cnas.assert_called_once_with('adpt', self.inst)
            self.vif.plug_vifs.assert_called_once_with(
                'adpt', self.inst, self.nwinfo, lpar_wrap=LPAR_W,
                cna_list=[mock.sentinel.old])

    def test_validates_before_reading_or_plugging(self):
        self.vif.validate.side_effect = exc.VifTypeNotSupported(
            port='p1', instance='vm1', vif_type='x', supported='pvm_sea')
        self.inst.task_state = None
        self.assertRaises(exc.VifTypeNotSupported, _run,
                          tf_net.PlugVifs(self.virtapi, 'adpt', self.inst,
                                          self.nwinfo))
        self.assertFalse(self.vif.get_cnas.called)
        self.assertFalse(self.vif.plug_vifs.called)

    def test_revert_unplugs_only_what_it_plugged(self):
        plugged = self.vif.plug_vifs.return_value
        self.assertRaises(ValueError, _run,
                          tf_net.PlugVifs(self.virtapi, 'adpt', self.inst,
                                          self.nwinfo), fail=True)
        self.vif.unplug_all.assert_called_once_with('adpt', self.inst,
                                                    plugged)

    def test_waits_for_inactive_ports(self):
        self.flags(vif_plugging_timeout=30)
        nwinfo = [{'id': 'p1', 'active': False}, {'id': 'p2', 'active': True}]
        _run(tf_net.PlugVifs(self.virtapi, 'adpt', self.inst, nwinfo))
        self.virtapi.wait_for_instance_event.assert_called_once_with(
            self.inst, [('network-vif-plugged', 'p1')], timeout=30,
            error_callback=mock.ANY)

    def test_event_timeout_fatal(self):
        self.flags(vif_plugging_timeout=30, vif_plugging_is_fatal=True)
        self.virtapi.wait_for_instance_event.side_effect = (
            nova_exc.InstanceEventTimeout())
        nwinfo = [{'id': 'p1', 'active': False}]
        self.assertRaises(nova_exc.VirtualInterfaceCreateException, _run,
                          tf_net.PlugVifs(self.virtapi, 'adpt', self.inst,
                                          nwinfo))

    def test_event_timeout_not_fatal(self):
        self.flags(vif_plugging_timeout=30, vif_plugging_is_fatal=False)
        self.virtapi.wait_for_instance_event.side_effect = (
            nova_exc.InstanceEventTimeout())
        _run(tf_net.PlugVifs(self.virtapi, 'adpt', self.inst,
                             [{'id': 'p1', 'active': False}]))


class TestUnplugAndMgmt(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.vif = self.useFixture(fixtures.MockPatchObject(
            tf_net, 'vif', autospec=True)).mock
        self.inst = mock.Mock(task_state=task_states.SPAWNING)

    def test_unplug(self):
        _run(tf_net.UnplugVifs('adpt', self.inst, ['v']))
        self.vif.unplug_vifs.assert_called_once_with(
            'adpt', self.inst, ['v'], partition_deleted=False)

    def test_unplug_partition_deleted(self):
        _run(tf_net.UnplugVifs('adpt', self.inst, ['v'],
                               partition_deleted=True))
        self.vif.unplug_vifs.assert_called_once_with(
            'adpt', self.inst, ['v'], partition_deleted=True)

    def test_unplug_task_only_when_needed(self):
        ovs, sea = {'type': 'ovs'}, {'type': 'pvm_sea'}
        for vifs, deleted, made in (([ovs], True, True), ([sea], False, True),
                                    ([sea], True, False), ([], False, False),
                                    (None, True, False)):
            tasks = tf_net.unplug_vifs('adpt', self.inst, vifs,
                                       partition_deleted=deleted)
            self.assertEqual(made, bool(tasks), (vifs, deleted))
            if made:
                self.assertEqual(vifs, tasks[0].network_info)
                self.assertEqual(deleted, tasks[0].partition_deleted)

    def test_mgmt_task_only_with_rmc(self):
        self.assertIsInstance(tf_net.plug_mgmt_vif('adpt', self.inst)[0],
                              tf_net.PlugMgmtVif)
        self.flags(group='powervm', use_rmc_mgmt_vif=False)
        self.assertEqual([], tf_net.plug_mgmt_vif('adpt', self.inst))

    def _mgmt_flow(self, fail=False):
        return _run(fakes.Provide('vm_cnas', [mock.sentinel.c1]),
                    tf_net.PlugMgmtVif('adpt', self.inst), fail=fail)

    def test_mgmt_vif_provided(self):
        self.vif.plug_mgmt_vif.return_value = mock.sentinel.mgmt
        res = self._mgmt_flow()
        self.assertIs(mock.sentinel.mgmt, res['mgmt_cna'])
        self.vif.plug_mgmt_vif.assert_called_once_with(
            'adpt', self.inst, [mock.sentinel.c1], lpar_wrap=LPAR_W)

    def test_mgmt_vif_disabled(self):
        self.flags(group='powervm', use_rmc_mgmt_vif=False)
        self.assertIsNone(self._mgmt_flow()['mgmt_cna'])
        self.assertFalse(self.vif.plug_mgmt_vif.called)

    def test_mgmt_vif_revert_deletes_created(self):
        self.vif.plug_mgmt_vif.return_value = mock.sentinel.mgmt
        self.assertRaises(ValueError, self._mgmt_flow, fail=True)
        self.vif.unplug_mgmt_vif.assert_called_once_with(mock.sentinel.mgmt)

    def test_mgmt_vif_revert_keeps_preexisting(self):
        self.vif.plug_mgmt_vif.return_value = mock.sentinel.c1
        self.assertRaises(ValueError, self._mgmt_flow, fail=True)
        self.assertFalse(self.vif.unplug_mgmt_vif.called)


class TestHotplug(test.NoDBTestCase):
    """attach_interface's tasks: events, the DLPAR check, UnplugVif."""

    def setUp(self):
        super().setUp()
        self.vif = self.useFixture(fixtures.MockPatchObject(
            tf_net, 'vif', autospec=True)).mock
        self.vif.plug_vifs.return_value = [mock.Mock(cna='new')]
        self.vif.get_cnas.return_value = []
        self.inst = mock.Mock(task_state=None)
        self.inst.name = 'vm1'
        self.virtapi = mock.MagicMock()

    def test_hotplug_waits_for_inactive_port_outside_spawn(self):
        self.flags(vif_plugging_timeout=30)
        nwinfo = [{'id': 'p9', 'type': 'pvm_sea', 'active': False}]
        _run(tf_net.PlugVifs(self.virtapi, 'adpt', self.inst, nwinfo,
                             hotplug=True))
        self.virtapi.wait_for_instance_event.assert_called_once_with(
            self.inst, [('network-vif-plugged', 'p9')], timeout=30,
            error_callback=mock.ANY)

    def test_no_wait_outside_spawn_without_hotplug(self):
        self.flags(vif_plugging_timeout=30)
        nwinfo = [{'id': 'p9', 'type': 'pvm_sea', 'active': False}]
        _run(tf_net.PlugVifs(self.virtapi, 'adpt', self.inst, nwinfo))
        self.assertFalse(self.virtapi.wait_for_instance_event.called)

    def test_check_io_modifiable(self):
        lpar = mock.Mock()
        lpar.can_modify_io.return_value = (False, 'no RMC')
        task = tf_net.CheckIoModifiable(self.inst)
        err = self.assertRaises(exc.PartitionIoNotModifiable, task.execute,
                                lpar)
        self.assertIn('no RMC', str(err))
        lpar.can_modify_io.return_value = (True, None)
        task.execute(lpar)

    def test_unplug_vif(self):
        self.vif.find_cna.return_value = 'cna'
        _run(tf_net.UnplugVif('adpt', self.inst, {'id': 'p1'}))
        self.vif.unplug.assert_called_once_with(
            'adpt', self.inst, {'id': 'p1'},
            cna_list=self.vif.get_cnas.return_value)
        self.assertFalse(self.vif.plug.called)

    def test_failure_after_client_gone_plugs_back(self):
        # The client adapter went, then the trunk's deletion failed.
        self.vif.find_cna.side_effect = ['cna', None]
        self.vif.unplug.side_effect = [ValueError('trunk'), None]
        self.assertRaises(ValueError, _run,
                          tf_net.UnplugVif('adpt', self.inst, {'id': 'p1'}))
        self.assertEqual(
            [mock.call('adpt', self.inst, {'id': 'p1'}, cna_list=[]),
             mock.call('adpt', self.inst, {'id': 'p1'}, cna_list=[],
                       keep_client=True)], self.vif.unplug.call_args_list)
        self.vif.plug.assert_called_once_with('adpt', self.inst,
                                              {'id': 'p1'}, lpar_wrap=LPAR_W)

    def test_revert_when_adapter_was_already_gone(self):
        self.vif.find_cna.return_value = None
        self.vif.unplug.side_effect = ValueError('x')
        self.assertRaises(ValueError, _run,
                          tf_net.UnplugVif('adpt', self.inst, {'id': 'p1'}))
        self.assertFalse(self.vif.plug.called)

    def test_unplug_vif_revert_noop_when_client_still_there(self):
        task = tf_net.UnplugVif('adpt', self.inst, {'id': 'p1'})
        task.had_cna = True
        self.vif.find_cna.return_value = 'cna'
        task.revert(LPAR_W, None, {})
        self.assertFalse(self.vif.plug.called)

    def _http(self, status):
        return pvm_exc.HttpError(mock.Mock(status=status, body='',
                                           reqmethod='PUT', reqpath='/CNA'))

    def test_hotplug_lost_answer_removes_created_adapter(self):
        # The adapter PUT was served but its answer lost: plug_vifs holds
        # no wrapper; the revert looks the VIF up and removes it.
        self.vif.plug_vifs.side_effect = self._http(500)
        self.vif.find_cna.return_value = None
        nwinfo = [{'id': 'p9', 'type': 'pvm_sea', 'active': True}]
        self.assertRaises(pvm_exc.HttpError, _run, tf_net.PlugVifs(
            self.virtapi, 'adpt', self.inst, nwinfo, hotplug=True))
        self.vif.unplug.assert_called_once_with('adpt', self.inst,
                                                nwinfo[0])

    def test_hotplug_refused_create_removes_nothing(self):
        self.vif.plug_vifs.side_effect = self._http(400)
        nwinfo = [{'id': 'p9', 'type': 'pvm_sea', 'active': True}]
        self.assertRaises(pvm_exc.HttpError, _run, tf_net.PlugVifs(
            self.virtapi, 'adpt', self.inst, nwinfo, hotplug=True))
        self.assertFalse(self.vif.unplug.called)

    def test_hotplug_keeps_adapter_that_was_there(self):
        self.vif.plug_vifs.side_effect = self._http(500)
        self.vif.find_cna.return_value = 'old'
        nwinfo = [{'id': 'p9', 'type': 'pvm_sea', 'active': True}]
        self.assertRaises(pvm_exc.HttpError, _run, tf_net.PlugVifs(
            self.virtapi, 'adpt', self.inst, nwinfo, hotplug=True))
        self.assertFalse(self.vif.unplug.called)
