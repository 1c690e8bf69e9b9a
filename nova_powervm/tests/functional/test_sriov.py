"""SR-IOV vNICs (pvm_sriov) against the REST simulator.

The simulator seeds two SR-IOV adapters; port 2 of each is labelled
``sriovnet1``, port 3 ``sriovnet2`` (see simulator/network_sriov.py).
"""
import json

from nova.network import model as network_model

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import test_iface_console as iface
from nova_powervm.tests.functional import test_lifecycle
from nova_powervm.virt.powervm import exception as exc

SRIOV_NET = '5c6b1bd3-2c5d-4a3c-8b8a-0e8f4b1a2c3f'


def sriov_vif(n, physnet='sriovnet1', vlan=None, profile=None):
    port = 'cccccccc-0000-4000-8000-%012d' % n
    details = {} if vlan is None else {network_model.VIF_DETAILS_VLAN: vlan}
    return network_model.VIF(
        id=port, address='fa:16:3e:00:02:%02x' % n, type='pvm_sriov',
        vnic_type=network_model.VNIC_TYPE_DIRECT, details=details,
        profile=profile or {}, active=True,
        network=network_model.Network(id=SRIOV_NET, bridge=None,
                                      label='direct', subnets=[],
                                      physical_network=physnet))


def used_ports(sim):
    """{(adapter, port): (logical ports, allocated capacity)} in use."""
    return {(p['adapter'], p['port']): (p['lps'], p['allocated'])
            for p in sim.inventory()['sriov']['ports'] if p['lps']}


class TestSriovAttach(iface._Base):

    def vnics(self):
        return sorted((v['mac'], v['pvid'], tuple(v['backing']))
                      for v in self.sim.inventory()['sriov']['vnics']
                      .values() if v['partition'] == self.uuid)

    def test_attach_detach_stopped(self):
        before = self.sim.inventory()
        self.flags(vnic_vf_capacity=0.1, group='powervm')
        self.drv.attach_interface(None, self.inst, None, sriov_vif(1, vlan=9))
        self.assertEqual([('FA163E000201', '9', ('1/2', '2/2'))],
                         self.vnics())
        self.assertEqual({('1', '2'): (1, '10.00%'),
                          ('2', '2'): (1, '10.00%')}, used_ports(self.sim))
        self.assertEqual(2, len(self.sim.inventory()['sriov'][
            'logical_ports']))
        # No client network adapter for a vNIC.
        self.assertEqual([], self.cnas())
        self.drv.detach_interface(None, self.inst, sriov_vif(1, vlan=9))
        self.assertInventory(before)

    def test_attach_detach_running_profile_redundancy(self):
        self.running()
        before = self.sim.inventory()
        one = sriov_vif(2, physnet='sriovnet2',
                        profile={'vnic_required_vfs': 1, 'capacity': 0.5})
        self.drv.attach_interface(None, self.inst, None, one)
        self.assertEqual(1, len(self.vnics()))
        self.assertEqual([(1, '50.00%')], list(used_ports(self.sim).values()))
        self.drv.detach_interface(None, self.inst, one)
        self.assertInventory(before)

    def assert_refused_no_write(self, exc_class, one_vif, text):
        before = self.sim.inventory()
        self.sim.clear_request_log()
        err = self.assertRaises(exc_class, self.drv.attach_interface, None,
                                self.inst, None, one_vif)
        self.assertIn(text, str(err))
        self.assertInventory(before)
        self.assertEqual([], [m for m, _p in self.requests() if m != 'GET'])

    def test_no_port_with_physnet_label(self):
        self.assert_refused_no_write(exc.SriovNoPhysicalPort,
                                     sriov_vif(3, physnet='physnet9'),
                                     'labelled physnet9')

    def test_no_free_capacity(self):
        self.drv.attach_interface(None, self.inst, None, sriov_vif(
            4, profile={'capacity': 0.6}))
        self.assert_refused_no_write(exc.SriovCapacityUnavailable,
                                     sriov_vif(5, profile={'capacity': 0.6}),
                                     'sriovnet1')

    def test_link_down_port_not_used(self):
        loc = [p['loc'] for p in self.sim.inventory()['sriov']['ports']
               if p['label'] == 'sriovnet1'][0]
        self.sim.sriov_port(loc_code=loc, link_up=False)
        self.assert_refused_no_write(exc.SriovCapacityUnavailable,
                                     sriov_vif(6), 'Found 1 viable')

    def test_failed_vnic_put_leaves_nothing(self):
        for kwargs in ({}, {'after_commit': True}):
            before = self.sim.inventory()
            self.sim.inject_fault(method='PUT', path='VirtualNICDedicated',
                                  status=500, times=1, **kwargs)
            self.assertRaises(exc.VifPlugFailed, self.drv.attach_interface,
                              None, self.inst, None, sriov_vif(7))
            self.assertInventory(before)

    def test_failed_detach_leaves_vnic(self):
        self.drv.attach_interface(None, self.inst, None, sriov_vif(8))
        before = self.sim.inventory()
        self.sim.inject_fault(method='DELETE', path='VirtualNICDedicated',
                              status=500, times=1)
        self.assertRaises(exc.VifUnplugFailed, self.drv.detach_interface,
                          None, self.inst, sriov_vif(8))
        self.assertInventory(before)

    def test_vf_devices_reported_for_labelled_ports(self):
        def devices():
            res = self.drv.get_available_resource('compute1')
            return sorted((d['address'], d['physical_port'])
                          for d in json.loads(res['pci_passthrough_devices']))
        ports = {p['adapter'] + '/' + p['port']: p['loc']
                 for p in self.sim.inventory()['sriov']['ports']}
        # 4 logical ports per physical port, 2 VFs per vNIC: 2 devices each.
        self.assertEqual(
            [('0001:02:00.0', ports['1/2']), ('0001:02:00.1', ports['1/2']),
             ('0001:03:00.0', ports['1/3']), ('0001:03:00.1', ports['1/3']),
             ('0002:02:00.0', ports['2/2']), ('0002:02:00.1', ports['2/2']),
             ('0002:03:00.0', ports['2/3']), ('0002:03:00.1', ports['2/3'])],
            devices())
        self.sim.sriov_port(loc_code=ports['2/3'], label='')
        self.flags(vnic_required_vfs=1, group='powervm')
        self.assertEqual(12, len(devices()))


class TestSriovSpawn(base.ClassSimTestCase):

    def test_spawn_destroy_frees_logical_ports(self):
        before = self.sim.inventory()
        inst = test_lifecycle.make_instance(1, image_ref=self.image_id)
        nwinfo = network_model.NetworkInfo([sriov_vif(1)])
        self.drv.spawn(None, inst, self.image_meta, [], None, {}, nwinfo)
        vnics = list(self.sim.inventory()['sriov']['vnics'].values())
        self.assertEqual([['1/2', '2/2']], [v['backing'] for v in vnics])
        self.assertEqual('running', self.sim.inventory()['partitions'][
            vnics[0]['partition']]['state'])
        self.drv.destroy(None, inst, nwinfo)
        self.drv.manage_image_cache(None, [])
        self.assertInventory(before)
