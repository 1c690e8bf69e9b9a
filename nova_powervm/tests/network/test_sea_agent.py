"""The PowerVM SEA agent: what it sends to pypowervm and to neutron's RPC."""
import threading
from unittest import mock

import fixtures
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import managed_system as pvm_ms

from nova_powervm.network import sea_agent
from nova_powervm.network import sea_agent_rpc
from nova_powervm.network import sea_agent_service as service
from nova_powervm.tests import base as test_base

HOST = 'host-uuid'
MAC1, MAC2 = 'fa:16:3e:00:00:01', 'fa:16:3e:00:00:02'


def cna(mac, pvid, vsw='vsw0'):
    return mock.Mock(mac=mac.replace(':', '').upper(), pvid=pvid,
                     vswitch_id=vsw)


def details(mac, port, net_type='vlan', vlan=None):
    return {'device': mac, 'port_id': port, 'network_type': net_type,
            'segmentation_id': vlan}


def http_error(status):
    return pvm_exc.HttpError(mock.Mock(status=status))


class TestSeaAgent(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.adapter = mock.Mock()
        self.calls = mock.Mock()     # one recorder: the order of calls
        self.rpc = self.calls.rpc
        self.parts = {'P1': [cna(MAC1, 302)]}

        def cnas(adapter, parent_type, parent_uuid):
            self.assertIs(pvm_lpar.LPAR, parent_type)
            if parent_uuid not in self.parts:
                raise http_error(404)
            return self.parts[parent_uuid]
        patch = self.useFixture
        self.lpar_get = patch(fixtures.MockPatch(
            'pypowervm.wrappers.logical_partition.LPAR.get',
            side_effect=lambda a: [mock.Mock(uuid=u) for u in self.parts]
        )).mock
        self.cna_get = patch(fixtures.MockPatch(
            'pypowervm.wrappers.network.CNA.get', side_effect=cnas)).mock
        self.vsw = mock.Mock(switch_id='vsw0')
        patch(fixtures.MockPatch('pypowervm.wrappers.network.VSwitch.get',
                                 return_value=[self.vsw]))
        self.ensure = patch(fixtures.MockPatchObject(
            sea_agent.sea_vlan, 'ensure',
            side_effect=lambda a, h, v, vlan, port: 2227 if vlan is None
            else vlan)).mock
        self.calls.attach_mock(self.ensure, 'ensure')
        self.release = patch(fixtures.MockPatchObject(
            sea_agent.sea_vlan, 'release_all')).mock
        self.calls.attach_mock(self.release, 'release_all')
        self.rpc.get_devices_details_list.side_effect = lambda macs: [
            details(MAC1, 'port-1', vlan=302), {'device': MAC2}][:len(macs)]
        self.agent = sea_agent.SeaAgent(self.adapter, HOST, self.rpc)

    def test_vlan_on_sea_before_device_up(self):
        self.agent.sync()
        self.lpar_get.assert_called_once_with(self.adapter)
        self.assertEqual([
            mock.call.rpc.get_devices_details_list([MAC1]),
            mock.call.ensure(self.adapter, HOST, self.vsw, 302, 'port-1'),
            mock.call.rpc.update_device_up(MAC1)], self.calls.mock_calls)
        self.assertEqual(1, self.agent.devices_up)
        self.assertFalse(self.agent.retry)
        # Nothing changed: nothing sent.
        self.calls.reset_mock()
        self.agent.sync()
        self.assertEqual([], self.calls.mock_calls)

    def test_gone_adapter_down_then_vlan_released(self):
        self.agent.sync()
        self.calls.reset_mock()
        del self.parts['P1']         # the partition was deleted
        self.agent.changed('p1')
        self.agent.sync()
        self.cna_get.assert_called_with(self.adapter, parent_type=mock.ANY,
                                        parent_uuid='P1')
        self.assertEqual([
            mock.call.rpc.update_device_down(MAC1),
            mock.call.release_all(self.adapter, HOST, [(self.vsw, 302)])],
            self.calls.mock_calls)
        self.assertEqual(0, self.agent.devices_up)

    def test_flat_port_uses_bridge_pvid_and_is_never_released(self):
        self.parts = {'P1': [cna(MAC1, 2227)]}
        self.rpc.get_devices_details_list.side_effect = lambda macs: [
            details(MAC1, 'port-1', 'flat')]
        self.agent.sync()
        self.ensure.assert_called_once_with(self.adapter, HOST, self.vsw,
                                            None, 'port-1')
        self.rpc.update_device_up.assert_called_once_with(MAC1)
        self.parts = {}
        self.agent.resync()
        self.agent.sync()
        self.rpc.update_device_down.assert_called_once_with(MAC1)
        self.release.assert_not_called()

    def test_vlan_mismatch_and_unknown_ports_not_up_nor_bridged(self):
        self.parts = {'P1': [cna(MAC1, 303), cna(MAC2, 400)]}
        self.agent.sync()
        self.ensure.assert_not_called()
        self.rpc.update_device_up.assert_not_called()
        # Asked about again only at a full read.
        self.agent.changed('P1')
        self.agent.sync()
        self.assertEqual(1, self.rpc.get_devices_details_list.call_count)
        self.agent.resync()
        self.agent.sync()
        self.assertEqual(2, self.rpc.get_devices_details_list.call_count)

    def test_sea_failure_retried_not_up(self):
        self.ensure.side_effect = http_error(500)
        self.agent.sync()
        self.rpc.update_device_up.assert_not_called()
        self.assertTrue(self.agent.retry)
        self.ensure.side_effect = None
        self.ensure.return_value = 302
        self.agent.sync()
        self.rpc.update_device_up.assert_called_once_with(MAC1)
        self.assertFalse(self.agent.retry)

    def test_rpc_failures_retried(self):
        self.rpc.get_devices_details_list.side_effect = Exception('bus')
        self.agent.sync()
        self.assertTrue(self.agent.retry)
        self.ensure.assert_not_called()
        self.rpc.get_devices_details_list.side_effect = lambda macs: [
            details(MAC1, 'port-1', vlan=302)]
        self.agent.sync()
        self.parts = {}
        self.rpc.update_device_down.side_effect = Exception('bus')
        self.agent.resync()
        self.agent.sync()
        self.assertEqual(1, self.agent.devices_up)
        self.release.assert_not_called()
        self.rpc.update_device_down.side_effect = None
        self.agent.sync()
        self.assertEqual(0, self.agent.devices_up)
        self.release.assert_called_once_with(self.adapter, HOST,
                                             [(self.vsw, 302)])

    def test_inactive_binding_asked_again_at_the_next_sync(self):
        # A live migration's target: ML2 knows the port, bound here once
        # nova moves the binding.  Asked again soon, not at the full read.
        answers = [[{'device': MAC1, 'no_active_binding': True}],
                   [details(MAC1, 'port-1', vlan=302)]]
        self.rpc.get_devices_details_list.side_effect = (
            lambda macs: answers.pop(0))
        self.agent.sync()
        self.assertTrue(self.agent.retry)
        self.ensure.assert_not_called()
        self.rpc.update_device_up.assert_not_called()
        self.lpar_get.reset_mock()
        self.agent.sync()
        self.lpar_get.assert_not_called()
        self.assertEqual([mock.call([MAC1]), mock.call([MAC1])],
                         self.rpc.get_devices_details_list.call_args_list)
        self.ensure.assert_called_once_with(self.adapter, HOST, self.vsw,
                                            302, 'port-1')
        self.rpc.update_device_up.assert_called_once_with(MAC1)
        self.assertFalse(self.agent.retry)

    def test_rest_failure_means_full_read_next(self):
        self.agent.sync()
        self.lpar_get.reset_mock()
        self.cna_get.side_effect = http_error(500)
        self.agent.changed('P1')
        self.agent.sync()
        self.assertTrue(self.agent.retry)
        self.assertEqual(1, self.agent.devices_up)   # nothing reported down
        self.cna_get.side_effect = None
        self.cna_get.return_value = []
        self.agent.sync()
        self.lpar_get.assert_called_once_with(self.adapter)
        self.rpc.update_device_down.assert_called_once_with(MAC1)

    def test_moved_adapter_goes_down_and_up_again(self):
        self.agent.sync()
        self.parts['P1'] = [cna(MAC1, 302, vsw='vsw1')]
        self.agent.changed('P1')
        self.agent.sync()
        self.rpc.update_device_down.assert_called_once_with(MAC1)
        # vsw1 is unknown: not reported up again.
        self.assertEqual(1, self.rpc.update_device_up.call_count)

    def test_neutron_mac(self):
        self.assertEqual(MAC1, sea_agent.neutron_mac('FA163E000001'))


class TestNeutronRpc(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.get_client = self.useFixture(fixtures.MockPatchObject(
            sea_agent_rpc.n_rpc, 'get_client')).mock
        self.useFixture(fixtures.MockPatchObject(
            sea_agent_rpc.n_context, 'get_admin_context_without_session',
            return_value='ctx'))
        self.rpc = sea_agent_rpc.NeutronRpc('pvm1')
        state_t, plugin_t = [c[0][0] for c in self.get_client.call_args_list]
        self.assertEqual(('q-reports-plugin', None),
                         (state_t.topic, state_t.namespace))
        self.assertEqual('q-plugin', plugin_t.topic)

    def test_device_calls_name_host_and_agent(self):
        cctxt = self.get_client.return_value.prepare.return_value
        self.rpc.update_device_up(MAC1)
        cctxt.call.assert_called_with('ctx', 'update_device_up', device=MAC1,
                                      agent_id='pvm-sea-pvm1', host='pvm1')
        self.rpc.update_device_down(MAC1)
        cctxt.call.assert_called_with('ctx', 'update_device_down',
                                      device=MAC1, agent_id='pvm-sea-pvm1',
                                      host='pvm1')
        self.rpc.get_devices_details_list((MAC1,))
        cctxt.call.assert_called_with('ctx', 'get_devices_details_list',
                                      devices=[MAC1],
                                      agent_id='pvm-sea-pvm1', host='pvm1')
        self.get_client.return_value.prepare.assert_called_with(
            version='1.3')

    def test_report_state_call_then_cast(self):
        cctxt = self.get_client.return_value.prepare.return_value
        self.rpc.report_state({'host': 'pvm1'}, use_call=True)
        kw = cctxt.call.call_args[1]
        self.assertEqual({'agent_state': {'host': 'pvm1'}},
                         kw['agent_state'])
        self.assertRegex(kw['time'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+$')
        self.rpc.report_state({'host': 'pvm1'})
        self.assertEqual('report_state', cctxt.cast.call_args[0][1])


class TestService(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.agent = mock.Mock(host_uuid=HOST, devices_up=2, retry=False)
        self.rpc = mock.Mock()
        self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.VSwitch.get',
            return_value=[mock.Mock(name='v')]))
        self.svc = service.AgentService(self.agent, self.rpc, 'pvm1')

    def test_events_name_partitions_or_resync(self):
        base = 'https://h:12443/rest/api/uom/'
        handler = service.EventHandler(self.agent)
        handler.process([
            {'EventType': 'ADD_URI', 'EventData':
             base + 'LogicalPartition/P1/ClientNetworkAdapter/C1'},
            {'EventType': 'DELETE_URI', 'EventData':
             base + 'LogicalPartition/P2'},
            {'EventType': 'MODIFY_URI', 'EventData':
             base + 'LogicalPartition/P3'},             # power state: no
            {'EventType': 'ADD_URI', 'EventData':
             base + 'VirtualIOServer/V1/ClientNetworkAdapter/C2'},
            {'EventType': 'ADD_URI', 'EventData':
             base + 'LogicalPartition/P4/VirtualSCSIClientAdapter/S'}])
        self.assertEqual([mock.call('P1'), mock.call('P2')],
                         self.agent.changed.call_args_list)
        self.agent.resync.assert_not_called()
        handler.process([{'EventType': 'MISSING_EVENTS'}])
        self.agent.resync.assert_called_once_with()

    def test_state_report(self):
        vsw = mock.Mock()
        vsw.name = 'ETHERNET0'
        with mock.patch('pypowervm.wrappers.network.VSwitch.get',
                        return_value=[vsw]) as get:
            self.svc.report()
            self.svc.report()
        get.assert_called_with(self.agent.adapter, parent_type=pvm_ms.System,
                               parent_uuid=HOST)
        first, second = self.rpc.report_state.call_args_list
        self.assertEqual({
            'binary': 'nova-powervm-sea-agent', 'host': 'pvm1',
            'topic': 'N/A', 'agent_type': 'PowerVM SEA agent',
            'start_flag': True, 'configurations': {
                'bridge_mappings': {'ETHERNET0': 'ETHERNET0'},
                'devices': 2, 'managed_system': HOST}}, first[0][0])
        self.assertEqual({'use_call': True}, first[1])
        self.assertNotIn('start_flag', second[0][0])
        self.assertEqual({'use_call': False}, second[1])

    def test_run_subscribes_syncs_reports_and_stops(self):
        listener = self.agent.adapter.session.get_event_listener.return_value
        self.rpc.report_state.side_effect = (
            lambda *a, **kw: self.svc.stop())
        self.svc.run()
        self.agent.resync.assert_called_once_with()
        self.agent.sync.assert_called_once_with()
        self.rpc.report_state.assert_called_once()
        handler = listener.subscribe.call_args[0][0]
        self.assertIs(self.agent, handler.agent)
        listener.unsubscribe.assert_called_once_with(handler)

    def test_signal_stops_a_run_waiting_for_neutron(self):
        # neutron-server does not answer: the RPC call waits (up to 10
        # minutes with neutron-lib's back-off); SIGTERM ends the run now.
        listener = self.agent.adapter.session.get_event_listener.return_value
        entered, never = threading.Event(), threading.Event()
        self.addCleanup(never.set)
        answered = []

        def report_state(*args, **kwargs):
            entered.set()
            never.wait(600)
            answered.append(True)
        self.rpc.report_state.side_effect = report_state

        def signal():
            entered.wait(600)
            self.svc.on_signal(15, None)
        threading.Thread(target=signal, daemon=True).start()
        self.svc.run()
        self.assertTrue(entered.is_set())
        self.assertEqual([], answered)
        self.assertTrue(self.svc.stopped.is_set())
        listener.unsubscribe.assert_called_once()
        # The agent's own calls are the stoppable ones too.
        self.assertIs(self.svc.rpc, self.agent.rpc)
        self.assertRaises(service.Stopped, self.agent.rpc.update_device_up,
                          'fa:16:3e:00:00:01')
        self.rpc.update_device_up.assert_not_called()

    def test_rpc_answers_and_errors_pass_through(self):
        self.rpc.get_devices_details_list.return_value = [{'device': 'm'}]
        self.assertEqual([{'device': 'm'}],
                         self.svc.rpc.get_devices_details_list(['m']))
        self.rpc.update_device_up.side_effect = ValueError('boom')
        self.assertRaises(ValueError, self.svc.rpc.update_device_up, 'm')
        self.rpc.get_devices_details_list.assert_called_once_with(['m'])

    def test_host_defaults_to_machine_name(self):
        with mock.patch('socket.gethostname', return_value='m1'):
            self.assertEqual('m1', service.agent_host())

    def test_rpc_on_neutrons_exchange(self):
        # neutron-server consumes on exchange 'neutron'; oslo.messaging's
        # default ('openstack') left report_state unanswered (live aio).
        calls = mock.Mock()
        with mock.patch('oslo_messaging.set_transport_defaults',
                        calls.defaults), \
                mock.patch('neutron_lib.rpc.init', calls.init):
            service.init_rpc('conf')
        self.assertEqual([mock.call.defaults(control_exchange='neutron'),
                          mock.call.init('conf')], calls.mock_calls)
