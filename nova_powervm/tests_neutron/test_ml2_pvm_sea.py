"""pvm_sea inside neutron's ML2 plugin (neutron's in-process test base).

Needs neutron and its test tree, which this project's other test
environments lack: run by ``tox -e ml2`` (test path
``nova_powervm/tests_neutron``).  A port of a host with a live PowerVM SEA
agent is bound ``pvm_sea`` and stays DOWN until the agent calls
``update_device_up`` with the adapter's MAC address.
"""
from unittest import mock

from neutron_lib.api.definitions import portbindings
from neutron_lib.api.definitions import provider_net as pnet
from neutron_lib import constants

from neutron.plugins.ml2 import rpc as ml2_rpc
from neutron.tests.common import helpers
from neutron.tests.unit.plugins.ml2 import test_plugin

from nova_powervm.network import ml2_pvm_sea


def register_sea_agent(host, alive=True):
    agent = helpers._get_l2_agent_dict(
        host, ml2_pvm_sea.AGENT_TYPE_PVM_SEA, 'nova-powervm-sea-agent',
        bridge_mappings={'ETHERNET0': 'ETHERNET0'})
    agent = helpers._register_agent(agent)
    if not alive:
        helpers.kill_agent(agent['id'])
    return agent


class TestPvmSeaInMl2(test_plugin.Ml2PluginV2TestCase):

    _mechanism_drivers = ['pvm_sea']

    def setUp(self):
        super().setUp()
        self.rpc = ml2_rpc.RpcCallbacks(mock.Mock(), mock.Mock())

    def port(self, host, vlan=42):
        net = self._make_network(
            self.fmt, 'net%d' % vlan, True, as_admin=True,
            arg_list=(pnet.NETWORK_TYPE, pnet.PHYSICAL_NETWORK,
                      pnet.SEGMENTATION_ID),
            **{pnet.NETWORK_TYPE: 'vlan', pnet.PHYSICAL_NETWORK: 'physnet1',
               pnet.SEGMENTATION_ID: vlan})['network']
        return self._make_port(
            self.fmt, net['id'], as_admin=True,
            device_owner='compute:nova', arg_list=(portbindings.HOST_ID,),
            **{portbindings.HOST_ID: host})['port']

    def status(self, port):
        return self._show('ports', port['id'],
                          as_admin=True)['port']['status']

    def test_down_until_agent_reports_device_up(self):
        register_sea_agent('pvm1')
        port = self.port('pvm1')
        self.assertEqual('pvm_sea', port[portbindings.VIF_TYPE])
        self.assertEqual({'port_filter': False, 'vlan': '42',
                          'sea_agent': True, 'physical_network': 'physnet1',
                          'bound_drivers': {'0': 'pvm_sea'}},
                         port[portbindings.VIF_DETAILS])
        self.assertEqual(constants.PORT_STATUS_DOWN, self.status(port))
        # The agent names the device by the adapter's MAC address.
        (det,) = self.rpc.get_devices_details_list(
            self.context, devices=[port['mac_address']], agent_id='a',
            host='pvm1')
        self.assertEqual((port['id'], 'vlan', 42),
                         (det['port_id'], det['network_type'],
                          det['segmentation_id']))
        self.assertNotEqual(constants.PORT_STATUS_ACTIVE, self.status(port))
        self.rpc.update_device_up(self.context, device=port['mac_address'],
                                  agent_id='a', host='pvm1')
        self.assertEqual(constants.PORT_STATUS_ACTIVE, self.status(port))
        self.rpc.update_device_down(self.context, device=port['mac_address'],
                                    agent_id='a', host='pvm1')
        self.assertEqual(constants.PORT_STATUS_DOWN, self.status(port))

    def test_not_bound_without_live_agent(self):
        register_sea_agent('pvm2', alive=False)
        for host in ('pvm2', 'pvm3'):
            port = self.port(host, vlan=43 if host == 'pvm2' else 44)
            self.assertEqual(portbindings.VIF_TYPE_BINDING_FAILED,
                             port[portbindings.VIF_TYPE])
