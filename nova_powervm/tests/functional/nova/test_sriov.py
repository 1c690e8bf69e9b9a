"""A server with an SR-IOV (vnic_type=direct, pvm_sriov) port through nova.

nova claims a PCI device for a direct port: the driver reports the SR-IOV
physical ports' vNIC slots as VF devices, which ``[pci] device_spec`` tags
with the physical network (domain = SR-IOV adapter ID, bus = physical port
ID).  The simulator's port 2 of adapters 1 and 2 is labelled ``sriovnet1``.
"""
import copy
import json

from nova import context as nova_context
from oslo_utils import uuidutils

from nova_powervm.tests.functional.nova import base

DEVICE_SPEC = [json.dumps({'address': '%04x:02:*.*' % adapter,
                           'physical_network': 'sriovnet1'})
               for adapter in (1, 2)]


class TestSriovServer(base.PowerVMNovaTestCase):

    def _start_compute(self, host, *args, **kwargs):
        # nova-compute reads [pci] device_spec when it starts.
        self.flags(device_spec=DEVICE_SPEC, group='pci')
        return super()._start_compute(host, *args, **kwargs)

    def setUp(self):
        super().setUp()
        neutron = self.neutron
        net = dict(neutron.network_2, **{
            'provider:physical_network': 'sriovnet1'})
        neutron._networks[net['id']] = net
        neutron._subnets[neutron.subnet_2['id']] = neutron.subnet_2
        self.port = copy.deepcopy(neutron.sriov_port)
        self.port['binding:vif_type'] = 'pvm_sriov'
        self.port['binding:vif_details'] = {'vlan': 24}
        neutron._ports[self.port['id']] = self.port

    def vnics(self):
        return list(self.sim.inventory()['sriov']['vnics'].values())

    def test_boot_with_direct_port_and_delete(self):
        server = self._boot(networks=[{'port': self.port['id']}])
        mac = self.port['mac_address'].replace(':', '').upper()
        vnics = self.vnics()
        self.assertEqual([(self._pvm_uuid(server), mac, '24',
                           ['1/2', '2/2'])],
                         [(v['partition'], v['mac'], v['pvid'],
                           v['backing']) for v in vnics])
        # nova claimed one of the VF devices the driver reported.
        profile = self.neutron._ports[self.port['id']]['binding:profile']
        self.assertEqual('sriovnet1', profile['physical_network'])
        self.assertRegex(profile['pci_slot'], r'^000[12]:02:00\.[01]$')
        self._delete(server)
        self.assertEqual([], self.vnics())
        self.assertEqual({}, self.sim.inventory()['sriov']['logical_ports'])

    def test_no_more_servers_than_vf_devices(self):
        # One vNIC (2 VFs) per sriovnet1 port pair: one device per port.
        for port in self.sim.inventory()['sriov']['ports']:
            if port['label'] == 'sriovnet1':
                self.sim.sriov_port(loc_code=port['loc'], max_lps=2)
        self.compute.manager.update_available_resource(
            nova_context.get_admin_context())
        ports = [self.port]
        for mac in ('52:54:00:1e:59:d1', '52:54:00:1e:59:d2'):
            extra = dict(copy.deepcopy(self.port), mac_address=mac,
                         id=uuidutils.generate_uuid())
            self.neutron._ports[extra['id']] = extra
            ports.append(extra)
        first = self._boot(networks=[{'port': ports[0]['id']}])
        second = self._boot(networks=[{'port': ports[1]['id']}])
        self.assertEqual(2, len(self.vnics()))
        # Both devices claimed: nova refuses a third before the driver.
        self._boot(expected='ERROR', networks=[{'port': ports[2]['id']}])
        self.assertEqual(2, len(self.vnics()))
        self._delete(first)
        self._delete(second)
        self.assertEqual([], self.vnics())
