"""SR-IOV adapters, vNICs and logical ports, through the real pypowervm."""
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import sriov as pvm_sriov
from pypowervm.wrappers import base_partition as bp
from pypowervm.wrappers import iocard
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import seed
from nova_powervm.tests.simulator import base

MAC = 'FA163E0000A1'


class TestSriov(base.SimTestCase):

    def setUp(self):
        super(TestSriov, self).setUp()
        lpar = pvm_lpar.LPAR.bld(
            self.adpt, 'sriov-lpar', bp.PartitionMemoryConfiguration.bld(
                self.adpt, 1024),
            bp.PartitionProcessorConfiguration.bld_shared(self.adpt, 0.5, 1))
        self.lpar = lpar.create(parent=self.host())

    def pports(self, label):
        return [p.loc_code for a in self.host().asio_config.sriov_adapters
                for p in a.phys_ports if p.label == label]

    def vnic(self, back_devs, mac=MAC, pvid=5):
        vnic = iocard.VNIC.bld(self.adpt, pvid=pvid, mac_addr=mac)
        vnic.back_devs = back_devs
        return vnic.create(parent=self.lpar)

    def bdev(self, adapter_id, port_id, capacity=None, vios=seed.VIOS1_UUID):
        return iocard.VNICBackDev.bld(self.adpt, vios, adapter_id, port_id,
                                      capacity=capacity)

    def test_seeded_adapters(self):
        host = self.host()
        self.assertTrue(host.get_capability('vnic_capable'))
        self.assertTrue(host.get_capability('vnic_failover_capable'))
        adaps = host.asio_config.sriov_adapters
        self.assertEqual([1, 2], [a.sriov_adap_id for a in adaps])
        for adap in adaps:
            self.assertEqual('Sriov', adap.mode)
            self.assertEqual('Running', adap.state)
            self.assertEqual(['sriovnet1', 'sriovnet2'],
                             [p.label for p in adap.phys_ports])
            for port in adap.phys_ports:
                self.assertEqual(0, port.cfg_lps)
                self.assertEqual(4, port.cfg_max_lps)
                self.assertEqual(0.02, port.min_granularity)
                self.assertEqual(0.0, port.allocated_capacity)
        for vios in pvm_vios.VIOS.get(self.adpt):
            self.assertTrue(vios.vnic_capable)
            self.assertTrue(vios.vnic_failover_capable)

    def test_vnic_allocates_and_frees(self):
        vnic = iocard.VNIC.bld(self.adpt, pvid=5, mac_addr=MAC)
        pvm_sriov.set_vnic_back_devs(vnic, self.pports('sriovnet1'),
                                     redundancy=2, capacity=0.06)
        vnic = vnic.create(parent=self.lpar)
        self.assertEqual(MAC, vnic.mac)
        self.assertIsNotNone(vnic.slot)
        self.assertEqual(2, len(vnic.back_devs))
        snap = self.sim.inventory()['sriov']
        used = {(p['adapter'], p['port']): (p['lps'], p['allocated'])
                for p in snap['ports']}
        self.assertEqual((1, '6.00%'), used[('1', '2')])
        self.assertEqual((1, '6.00%'), used[('2', '2')])
        self.assertEqual((0, '0.00%'), used[('1', '3')])
        self.assertEqual(['1/2', '2/2'], snap['vnics'][vnic.uuid]['backing'])
        self.assertEqual(2, len(snap['logical_ports']))
        # The logical ports are the VIOSes' children, as NovaLink shows them.
        lps = [lp for vios in pvm_vios.VIOS.get(self.adpt) for lp in
               iocard.SRIOVEthLPort.get(self.adpt, parent=vios)]
        self.assertEqual(2, len(lps))
        self.assertEqual({0.06}, {lp.cfg_capacity for lp in lps})
        # The partition's vNIC feed.
        self.assertEqual([MAC], [v.mac for v in iocard.VNIC.get(
            self.adpt, parent=self.lpar)])
        vnic.delete()
        snap = self.sim.inventory()['sriov']
        self.assertEqual({}, snap['vnics'])
        self.assertEqual({}, snap['logical_ports'])
        self.assertEqual({0}, {p['lps'] for p in snap['ports']})
        self.assertEqual({'0.00%'}, {p['allocated'] for p in snap['ports']})

    def test_partition_delete_frees(self):
        self.vnic([self.bdev(1, 2, 0.1)])
        self.lpar.delete()
        snap = self.sim.inventory()['sriov']
        self.assertEqual(({}, {}), (snap['vnics'], snap['logical_ports']))
        self.assertEqual({0}, {p['lps'] for p in snap['ports']})

    def assert_refused(self, back_devs, text):
        before = self.sim.inventory()['sriov']
        e = self.assertRaises(pvm_exc.HttpError, self.vnic, back_devs)
        self.assertEqual(400, e.response.status)
        self.assertIn(text, e.response.body)
        self.assertEqual(before, self.sim.inventory()['sriov'])

    def test_over_capacity_refused(self):
        self.vnic([self.bdev(1, 2, 0.9)], mac='FA163E0000B1')
        self.assert_refused([self.bdev(2, 2, 0.1), self.bdev(1, 2, 0.2)],
                            'HSCLB110')

    def test_logical_port_limit_refused(self):
        for i in range(4):
            self.vnic([self.bdev(1, 3)], mac='FA163E0000C%d' % i)
        self.assert_refused([self.bdev(1, 3)], 'HSCLB110')

    def test_bad_backing_devices_refused(self):
        self.assert_refused([], 'HSCLB100')
        self.assert_refused([self.bdev(3, 2)], 'HSCLB103')
        self.assert_refused([self.bdev(1, 2), self.bdev(1, 2)], 'HSCLB105')
        self.assert_refused([self.bdev(1, 2, 0.03)], 'HSCLB106')
        self.assert_refused(
            [self.bdev(1, 2, vios='7DBBE705-E4C4-4458-8223-3EBE07015CA0')],
            'HSCLB101')

    def test_pypowervm_sees_port_exhaustion(self):
        self.sim.sriov_port(loc_code=self.pports('sriovnet2')[0],
                            label='other')
        vnic = iocard.VNIC.bld(self.adpt, pvid=5, mac_addr=MAC)
        self.assertRaises(pvm_exc.InsufficientSRIOVCapacity,
                          pvm_sriov.set_vnic_back_devs, vnic,
                          self.pports('sriovnet2'), redundancy=2)
