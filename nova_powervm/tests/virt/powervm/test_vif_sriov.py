"""Unit tests for vif_sriov.py: the vNIC sent to pypowervm."""
from unittest import mock

import fixtures
from nova.network import model as network_model
from nova import test
from nova.tests.unit import fake_instance
from pypowervm import exceptions as pvm_exc
from pypowervm.tests.test_utils import pvmhttp
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import managed_system as pvm_ms

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import host as pvm_host
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import vif

VIOS1 = '3E3F9BFC-C4EE-439E-B70A-1D369213ED83'
VIOS2 = '55F37E22-E616-4004-A60B-33EA11EFE91A'
MAC = 'fa:16:3e:00:00:0a'
T3 = 'U78C7.001.RCH0004-P1-C%d-T3'


def sriov_vif(physnet='sriovnet1', vlan=None, profile=None, mac=MAC):
    net = network_model.Network(id='5c6b1bd3-2c5d-4a3c-8b8a-0e8f4b1a2c3d',
                                bridge=None, label='direct',
                                physical_network=physnet, subnets=[])
    details = {} if vlan is None else {'vlan': vlan}
    return network_model.VIF(id='2b1d7e5c-7b7a-4c2a-9d6e-5a7fdc1b0d02',
                             address=mac, type='pvm_sriov', network=net,
                             details=details, profile=profile or {},
                             vnic_type='direct')


def recorded_system():
    """pypowervm's recorded SR-IOV system; the T3 ports labelled."""
    resp = pvmhttp.load_pvm_resp('sys_with_sriov.txt').get_response()
    sys_w = pvm_ms.System.wrap(resp)[0]
    for adap in sys_w.asio_config.sriov_adapters:
        for port in adap.phys_ports:
            if port.loc_code.endswith('-T3'):
                port.label = 'sriovnet1'
    return sys_w


class SriovTestBase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adapter = mock.Mock(name='adapter')
        self.adapter.build_href.side_effect = (
            lambda t, u, **kw: 'https://h/rest/api/uom/%s/%s' % (t, u))
        self.inst = fake_instance.fake_instance_obj(
            mock.sentinel.ctx, name='vm1',
            uuid='49629a5c-f4c4-4721-9511-9725786ff2e5')
        self.sys_w = recorded_system()
        self.sys_w.get_capability = mock.Mock(return_value=True)
        self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.managed_system.System.get',
            return_value=[self.sys_w]))
        vioses = [mock.Mock(uuid=u, vnic_capable=True,
                            vnic_failover_capable=True)
                  for u in (VIOS1, VIOS2)]
        self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.partition.get_active_vioses',
            return_value=vioses))
        self.vnics = []
        self.vnic_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.iocard.VNIC.get',
            side_effect=lambda *a, **k: list(self.vnics))).mock
        self.sent = []

        def _create(wrapper, **kw):
            self.sent.append((wrapper, kw))
            return mock.Mock(name='created_vnic', mac=wrapper.mac)
        self.useFixture(fixtures.MonkeyPatch(
            'pypowervm.wrappers.iocard.VNIC.create', _create))


class TestPlug(SriovTestBase):

    def test_plug_sends_vnic_over_labelled_ports(self):
        self.flags(vnic_vf_capacity=0.04, group='powervm')
        plugged = vif.plug(self.adapter, self.inst, sriov_vif(vlan=7))
        self.assertEqual(1, len(self.sent))
        vnic, kw = self.sent[0]
        self.assertEqual({'parent_type': pvm_lpar.LPAR,
                          'parent_uuid': ids.pvm_uuid(self.inst)}, kw)
        self.assertEqual('FA163E00000A', vnic.mac)
        self.assertEqual(7, vnic.pvid)
        # Default redundancy 2: one VF on each adapter's labelled port.
        self.assertEqual(
            [(1, 2, 0.04), (2, 2, 0.04)],
            sorted((bd.sriov_adap_id, bd.pport_id, bd.capacity)
                   for bd in vnic.back_devs))
        self.assertEqual({VIOS1, VIOS2},
                         {bd.vios_href.rsplit('/', 1)[1]
                          for bd in vnic.back_devs})
        self.assertIsNone(plugged.cna)
        self.assertTrue(plugged.created)

    def test_binding_profile_overrides_options(self):
        self.flags(vnic_required_vfs=2, vnic_vf_capacity=0.5,
                   group='powervm')
        vif.plug(self.adapter, self.inst, sriov_vif(
            profile={'vnic_required_vfs': 1, 'capacity': 0.1}))
        vnic = self.sent[0][0]
        self.assertEqual([0.1], [bd.capacity for bd in vnic.back_devs])
        self.assertEqual(0, vnic.pvid)

    def test_existing_vnic_kept(self):
        self.vnics = [mock.Mock(mac='FA163E00000A')]
        plugged = vif.plug(self.adapter, self.inst, sriov_vif())
        self.assertEqual([], self.sent)
        self.assertFalse(plugged.created)
        vif.unplug_plugged(self.adapter, self.inst, plugged)
        self.vnics[0].delete.assert_not_called()

    def assert_refused(self, exc_class, one_vif, text):
        e = self.assertRaises(exc_class, vif.plug, self.adapter, self.inst,
                              one_vif)
        self.assertIn(text, str(e))
        self.assertEqual([], self.sent)

    def test_no_port_with_label(self):
        self.assert_refused(exc.SriovNoPhysicalPort,
                            sriov_vif(physnet='other'), 'labelled other')

    def test_not_enough_ports(self):
        self.assert_refused(
            exc.SriovCapacityUnavailable,
            sriov_vif(profile={'vnic_required_vfs': 3}), 'sriovnet1')

    def test_port_capacity_exhausted(self):
        self.flags(vnic_vf_capacity=0.5, group='powervm')
        for adap in self.sys_w.asio_config.sriov_adapters[:1]:
            adap.phys_ports[2].set_parm_value('AllocatedCapacity', '60.0%')
        self.assert_refused(exc.SriovCapacityUnavailable, sriov_vif(),
                            'Found 1 viable backing device')

    def test_bad_input(self):
        for profile, text in (
                ({'vnic_required_vfs': 0}, 'vnic_required_vfs 0'),
                ({'vnic_required_vfs': 'two'}, 'vnic_required_vfs two'),
                ({'capacity': 1.5}, 'capacity 1.5'),
                ({'capacity': 0.03}, 'granularity')):
            self.assert_refused(exc.VifInvalid, sriov_vif(profile=profile),
                                text)
        self.assert_refused(exc.VifInvalid, sriov_vif(physnet=None),
                            'physical network')
        self.assert_refused(exc.VifInvalid, sriov_vif(vlan=5000), 'VLAN')

    def test_host_not_vnic_capable(self):
        self.sys_w.get_capability.return_value = False
        self.assert_refused(exc.VifPlugFailed, sriov_vif(), 'vNIC')


class TestUnplug(SriovTestBase):

    def test_unplug_deletes_vnic_by_mac(self):
        other = mock.Mock(mac='FA163E0000FF')
        mine = mock.Mock(mac='FA163E00000A')
        self.vnics = [other, mine]
        vif.unplug(self.adapter, self.inst, sriov_vif(), cna_list=[])
        mine.delete.assert_called_once_with()
        other.delete.assert_not_called()

    def test_unplug_gone_is_success(self):
        mine = mock.Mock(mac='FA163E00000A')
        mine.delete.side_effect = pvm_exc.HttpNotFound(mock.Mock(status=404))
        self.vnics = [mine]
        vif.unplug(self.adapter, self.inst, sriov_vif(), cna_list=[])
        self.vnics = []
        vif.unplug(self.adapter, self.inst, sriov_vif(), cna_list=[])

    def test_lost_delete_answer_is_success_once_gone(self):
        mine = mock.Mock(mac='FA163E00000A')
        mine.delete.side_effect = pvm_exc.Error('connection dropped')
        self.vnics = [mine]
        # Still there: the failure stands.
        self.assertRaises(exc.VifUnplugFailed, vif.unplug, self.adapter,
                          self.inst, sriov_vif(), cna_list=[])
        # Gone after all: success.
        self.vnic_get.side_effect = [[mine], []]
        vif.unplug(self.adapter, self.inst, sriov_vif(), cna_list=[])

    def test_revert_deletes_created(self):
        plugged = vif.plug(self.adapter, self.inst, sriov_vif())
        vif.unplug_all(self.adapter, self.inst, [plugged])
        plugged.vnic.delete.assert_called_once_with()


class TestInventory(test.NoDBTestCase):

    def test_pci_devices_per_labelled_port(self):
        sys_w = recorded_system()
        devs = pvm_host.sriov_pci_devices(sys_w, 2)
        # The two labelled T3 ports (4 logical ports each): 2 vNICs each.
        self.assertEqual(['0001:02:00.0', '0001:02:00.1', '0002:02:00.0',
                          '0002:02:00.1'], [d['address'] for d in devs])
        self.assertEqual({'type-VF'}, {d['dev_type'] for d in devs})
        self.assertEqual('U78C7.001.RCH0004-P1-C8-T3',
                         devs[0]['physical_port'])
        self.assertEqual(8, len(pvm_host.sriov_pci_devices(sys_w, 1)))
