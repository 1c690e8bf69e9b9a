"""Unit tests for vif.py: what is sent to pypowervm (mocked)."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova.network import model as network_model
from nova import test
from nova.tests.unit import fake_instance
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import network as pvm_net
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.tests.virt.powervm.tasks import fakes
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm.tasks import network as tf_net
from nova_powervm.virt.powervm import vif

HOST = 'c889bf0d-9996-33ac-84c5-d16727083a77'
VSW_BASE = 'https://h/rest/api/uom/ManagedSystem/%s/VirtualSwitch/' % HOST


def make_vif(vif_type='pvm_sea', mac='fa:16:3e:00:00:01', vlan=100,
             physnet=None, port_id='1f1d7e5c-7b7a-4c2a-9d6e-5a7fdc1b0d01',
             active=True, mtu=None, bridge='br-int'):
    net = network_model.Network(
        id='5c6b1bd3-2c5d-4a3c-8b8a-0e8f4b1a2c3d', bridge=bridge,
        label='private',
        physical_network=physnet, mtu=mtu, subnets=[])
    details = {}
    if vlan is not None:
        details['vlan'] = vlan
    return network_model.VIF(id=port_id, address=mac, type=vif_type,
                             network=net, details=details, active=active,
                             devname=('tap' + port_id)[:14])


def fake_vswitch(name, uuid):
    vsw = mock.Mock(uuid=uuid, related_href=VSW_BASE + uuid)
    vsw.name = name
    return vsw


def fake_cna(mac, vsw_uuid='vsw0', pvid=100, trunk=False, dev='ent0'):
    cna = mock.Mock(mac=mac.replace(':', '').upper(), pvid=pvid,
                    vswitch_uri=VSW_BASE + vsw_uuid, is_trunk=trunk,
                    dev_name=dev)
    return cna


class VifTestBase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adapter = mock.Mock(name='adapter')
        self.adapter.sys_uuid = HOST
        self.inst = fake_instance.fake_instance_obj(
            mock.sentinel.ctx, name='vm1',
            uuid='49629a5c-f4c4-4721-9511-9725786ff2e5')
        self.lpar_uuid = ids.pvm_uuid(self.inst)
        self.vswitches = [fake_vswitch('ETHERNET0', 'vsw0'),
                          fake_vswitch('NovaLinkVEABridge', 'vsw1')]
        self.vsw_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.VSwitch.get',
            side_effect=lambda *a, **k: list(self.vswitches))).mock
        self.bld = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.CNA.bld')).mock
        self.created = []

        def _bld(adapter, pvid, href, **kw):
            w = mock.Mock(name='cna_bld')
            w.create.side_effect = lambda **ckw: self._made(pvid, href, kw)
            return w
        self.bld.side_effect = _bld
        self.os_vif = self.useFixture(
            fixtures.MockPatchObject(vif, 'os_vif')).mock
        self.useFixture(fixtures.MockPatchObject(vif, '_os_vif_ready', False))
        self.addCleanup(vif.reset_cache)
        # No Shared Ethernet Adapter unless a test adds one (test_sea_vlan).
        self.nb_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.NetBridge.get',
            return_value=[])).mock

    def _made(self, pvid, href, kw):
        made = mock.Mock(pvid=pvid, vswitch_uri=href, kw=kw,
                         mac=(kw.get('mac_addr') or '0a0b0c0d0e0f'))
        self.created.append(made)
        return made


class TestSeaVif(VifTestBase):

    def test_plug_creates_cna_on_default_vswitch_with_vlan(self):
        res = vif.plug(self.adapter, self.inst, make_vif(vlan=100))
        self.bld.assert_called_once_with(
            self.adapter, 100, VSW_BASE + 'vsw0',
            mac_addr='fa:16:3e:00:00:01')
        self.assertIs(self.created[0], res.cna)
        self.assertEqual([], res.trunks)
        self.vsw_get.assert_called_once_with(
            self.adapter, parent_type=pvm_ms.System, parent_uuid=HOST)

    def test_plug_parent_is_the_partition(self):
        wrapper = mock.Mock()
        self.bld.side_effect = None
        self.bld.return_value = wrapper
        res = vif.plug(self.adapter, self.inst, make_vif())
        wrapper.create.assert_called_once_with(
            parent_type=pvm_lpar.LPAR, parent_uuid=self.lpar_uuid)
        self.assertIs(wrapper.create.return_value, res.cna)

    def test_plug_with_lpar_wrap_saves_partition_get(self):
        wrapper = mock.Mock()
        self.bld.side_effect = None
        self.bld.return_value = wrapper
        lpar_w = mock.Mock(assoc_sys_uuid='OTHERHOST')
        vif.plug(self.adapter, self.inst, make_vif(), lpar_wrap=lpar_w)
        wrapper.create.assert_called_once_with(parent=lpar_w)
        self.vsw_get.assert_called_once_with(
            self.adapter, parent_type=pvm_ms.System, parent_uuid='OTHERHOST')

    def test_physnet_selects_vswitch_by_name(self):
        self.vswitches.append(fake_vswitch('physnet2', 'vsw7'))
        vif.plug(self.adapter, self.inst, make_vif(physnet='physnet2'))
        self.assertEqual(VSW_BASE + 'vsw7', self.bld.call_args[0][2])

    def test_unknown_physnet_falls_back_to_default(self):
        vif.plug(self.adapter, self.inst, make_vif(physnet='nosuch'))
        self.assertEqual(VSW_BASE + 'vsw0', self.bld.call_args[0][2])

    def test_vswitch_feed_read_once_for_many_plugs(self):
        for i in range(3):
            vif.plug(self.adapter, self.inst,
                     make_vif(mac='fa:16:3e:00:00:0%d' % i, physnet='nosuch'))
        self.assertEqual(1, self.vsw_get.call_count)
        self.assertEqual(3, len(self.created))

    def test_no_vlan_rejected_before_any_request(self):
        # Was silently VLAN 1 (the SEA's untagged network).
        for vlan in (None, ''):
            ex = self.assertRaises(exc.VifInvalid, vif.plug, self.adapter,
                                   self.inst, make_vif(vlan=vlan))
            self.assertIn('needs a VLAN', str(ex))
            self.assertIn('flat', str(ex))
        self.assertFalse(self.bld.called)
        self.assertFalse(self.vsw_get.called)

    def test_vlan_from_network_meta(self):
        one = make_vif(vlan=None)
        one['network']['meta']['vlan'] = '230'
        vif.plug(self.adapter, self.inst, one)
        self.assertEqual(230, self.bld.call_args[0][1])

    def test_bad_vlan_rejected_before_any_request(self):
        for bad in (0, 4095, 'abc'):
            self.assertRaises(exc.VifInvalid, vif.plug, self.adapter,
                              self.inst, make_vif(vlan=bad))
        self.assertFalse(self.bld.called)
        self.assertFalse(self.vsw_get.called)

    def test_rest_failure_is_a_nova_plug_exception(self):
        self.bld.side_effect = pvm_exc.Error('boom')
        ex = self.assertRaises(nova_exc.VirtualInterfacePlugException,
                               vif.plug, self.adapter, self.inst, make_vif())
        self.assertIn('boom', str(ex))

    def test_unplug_deletes_matching_cna_only(self):
        mine = fake_cna('fa:16:3e:00:00:01')
        other = fake_cna('fa:16:3e:00:00:99')
        ret = vif.unplug(self.adapter, self.inst, make_vif(),
                         cna_list=[other, mine])
        self.assertIs(mine, ret)
        mine.delete.assert_called_once_with()
        self.assertFalse(other.delete.called)

    def test_unplug_absent_is_noop(self):
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        return_value=[]) as get:
            self.assertIsNone(vif.unplug(self.adapter, self.inst,
                                         make_vif()))
            get.assert_called_once_with(
                self.adapter, parent_type=pvm_lpar.LPAR,
                parent_uuid=self.lpar_uuid)

    def test_unplug_partition_gone_is_noop(self):
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        side_effect=pvm_exc.HttpNotFound(mock.Mock(
                            status=404, reqmethod='GET', reqpath='x',
                            body='', headers={}))):
            vif.unplug_vifs(self.adapter, self.inst, [make_vif()])

    def test_unplug_already_deleted_cna_404_ok(self):
        mine = fake_cna('fa:16:3e:00:00:01')
        mine.delete.side_effect = pvm_exc.HttpNotFound(mock.Mock(
            status=404, reqmethod='DELETE', reqpath='x', body='',
            headers={}))
        vif.unplug(self.adapter, self.inst, make_vif(), cna_list=[mine])

    def test_release_leaves_agent_owned_vlans_to_the_agent(self):
        # Binding detail sea_agent: the host's SEA agent removes the VLAN.
        agent = make_vif(vlan=101, mac='fa:16:3e:00:00:02')
        agent['details']['sea_agent'] = True
        with mock.patch.object(vif.sea_vlan, 'release_all') as rel, \
                mock.patch.object(vif.host_net, 'host_uuid',
                                  return_value=HOST):
            vif.release_sea_vlans(self.adapter, self.inst,
                                  [make_vif(vlan=100), agent])
            vif.release_sea_vlans(self.adapter, self.inst, [agent])
        rel.assert_called_once_with(self.adapter, HOST,
                                    [(self.vswitches[0], 100)], tries=1)


class TestValidation(VifTestBase):

    def test_unknown_type_names_the_type(self):
        bad = make_vif(vif_type='bridge')
        ex = self.assertRaises(nova_exc.VirtualInterfacePlugException,
                               vif.plug, self.adapter, self.inst, bad)
        self.assertIn('bridge', str(ex))
        self.assertIn('pvm_sea', str(ex))
        self.assertFalse(self.bld.called)

    def test_plug_vifs_validates_all_before_creating(self):
        good = make_vif()
        bad = make_vif(vif_type='vhostuser', mac='fa:16:3e:00:00:02')
        self.assertRaises(exc.VifTypeNotSupported, vif.plug_vifs,
                          self.adapter, self.inst, [good, bad], cna_list=[])
        self.assertFalse(self.bld.called)


class TestPlugVifs(VifTestBase):

    def test_skips_already_plugged(self):
        have = fake_cna('fa:16:3e:00:00:01')
        res = vif.plug_vifs(
            self.adapter, self.inst,
            [make_vif(), make_vif(mac='fa:16:3e:00:00:02')], cna_list=[have])
        self.assertEqual(1, len(res))
        self.assertEqual('fa:16:3e:00:00:02',
                         self.bld.call_args[1]['mac_addr'])

    def test_reads_cnas_when_not_given(self):
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        return_value=[]) as get:
            vif.plug_vifs(self.adapter, self.inst, [make_vif()])
            self.assertEqual(1, get.call_count)

    def test_failure_removes_what_this_call_created(self):
        calls = []

        def _bld(adapter, pvid, href, **kw):
            w = mock.Mock()
            if calls:
                w.create.side_effect = pvm_exc.Error('second fails')
            else:
                w.create.side_effect = lambda **k: self._made(pvid, href, kw)
            calls.append(1)
            return w
        self.bld.side_effect = _bld
        self.assertRaises(nova_exc.VirtualInterfacePlugException,
                          vif.plug_vifs, self.adapter, self.inst,
                          [make_vif(), make_vif(mac='fa:16:3e:00:00:02')],
                          cna_list=[])
        self.created[0].delete.assert_called_once_with()


class TestPlugVifsTaskRevert(VifTestBase):
    """tasks/network.PlugVifs with the real vif module: its revert."""

    def test_revert_deletes_exactly_what_it_created(self):
        have = fake_cna('fa:16:3e:00:00:01')
        self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.CNA.get', return_value=[have]))
        self.inst.task_state = None
        lpar_w = mock.Mock(assoc_sys_uuid=HOST)
        flow = tf_lf.Flow('f').add(
            fakes.Provide('lpar_wrap', lpar_w),
            tf_net.PlugVifs(mock.Mock(), self.adapter, self.inst,
                            [make_vif(), make_vif(mac='fa:16:3e:00:00:02'),
                             make_vif(mac='fa:16:3e:00:00:03')]),
            fakes.Fail(name='fail'))
        self.assertRaises(ValueError, tf_eng.run, flow)
        # Two adapters were created on the partition, and both deleted;
        # the one that was there before is left alone.
        self.assertEqual(['fa:16:3e:00:00:02', 'fa:16:3e:00:00:03'],
                         [c.kw['mac_addr'] for c in self.created])
        for made in self.created:
            made.delete.assert_called_once_with()
        have.delete.assert_not_called()


class TestOvsVif(VifTestBase):

    def setUp(self):
        super().setUp()
        self.mgmt = mock.Mock(uuid='MGMT-UUID')
        self.get_mgmt = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.partition.get_mgmt_partition',
            return_value=self.mgmt)).mock
        vnet = mock.Mock(vlan=1, associated_switch_uri=VSW_BASE + 'vsw1')
        vnet2 = mock.Mock(vlan=2, associated_switch_uri=VSW_BASE + 'vsw1')
        other = mock.Mock(vlan=3, associated_switch_uri=VSW_BASE + 'vsw0')
        self.vnet_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.network.VNet.get',
            return_value=[vnet, vnet2, other])).mock

    def _ovs(self, **kw):
        return make_vif(vif_type='ovs', vlan=None, **kw)

    def test_plug_trunk_on_mgmt_then_client_same_free_vlan(self):
        res = vif.plug(self.adapter, self.inst, self._ovs(mtu=9000))
        trunk_call, client_call = self.bld.call_args_list
        # VLANs 1 and 2 are taken on the NovaLink vswitch; 3 is on another.
        self.assertEqual(mock.call(
            self.adapter, 3, VSW_BASE + 'vsw1', trunk_pri=1,
            dev_name='tap1f1d7e5c-7b', configured_mtu=9000), trunk_call)
        self.assertEqual(mock.call(
            self.adapter, 3, VSW_BASE + 'vsw1',
            mac_addr='fa:16:3e:00:00:01'), client_call)
        self.assertEqual([self.created[0]], res.trunks)
        self.assertIs(self.created[1], res.cna)
        self.vnet_get.assert_called_once_with(
            self.adapter, parent_type=pvm_ms.System, parent_uuid=HOST)

    def test_plug_uses_os_vif_direct_ovs_port(self):
        v = self._ovs()
        v['details'][network_model.VIF_DETAILS_OVS_HYBRID_PLUG] = True
        vif.plug(self.adapter, self.inst, v)
        self.os_vif.initialize.assert_called_once_with()
        osv, info = self.os_vif.plug.call_args[0]
        self.assertEqual('VIFOpenVSwitch', osv.obj_name())
        self.assertEqual('tap1f1d7e5c-7b', osv.vif_name)
        self.assertEqual('br-int', osv.bridge_name)
        self.assertTrue(osv.port_profile.create_port)
        self.assertEqual(v['id'], osv.port_profile.interface_id)
        self.assertEqual(self.inst.uuid, info.uuid)
        # The caller's VIF is untouched.
        self.assertTrue(
            v['details'][network_model.VIF_DETAILS_OVS_HYBRID_PLUG])

    def test_creates_novalink_vswitch_if_absent(self):
        self.vswitches.pop()
        with mock.patch('pypowervm.wrappers.network.VSwitch.bld') as vbld:
            vbld.return_value.create.return_value = fake_vswitch(
                'NovaLinkVEABridge', 'vsw9')
            vif.plug(self.adapter, self.inst, self._ovs())
            vbld.assert_called_once_with(self.adapter, 'NovaLinkVEABridge')
            vbld.return_value.create.assert_called_once_with(
                parent_type=pvm_ms.System, parent_uuid=HOST)

    def test_os_vif_failure_removes_trunk_and_client(self):
        self.os_vif.plug.side_effect = ValueError('ovs down')
        self.assertRaises(ValueError, vif.plug, self.adapter, self.inst,
                          self._ovs())
        trunk, client = self.created
        trunk.delete.assert_called_once_with()
        client.delete.assert_called_once_with()

    def test_client_failure_removes_trunk(self):
        calls = []

        def _bld(adapter, pvid, href, **kw):
            w = mock.Mock()
            if calls:
                w.create.side_effect = pvm_exc.Error('client failed')
            else:
                w.create.side_effect = lambda **k: self._made(pvid, href, kw)
            calls.append(1)
            return w
        self.bld.side_effect = _bld
        self.assertRaises(exc.VifPlugFailed, vif.plug, self.adapter,
                          self.inst, self._ovs())
        self.created[0].delete.assert_called_once_with()
        self.assertFalse(self.os_vif.unplug.called)

    def test_unplug_removes_ovs_port_trunk_and_client(self):
        client = fake_cna('fa:16:3e:00:00:01', vsw_uuid='vsw1', pvid=5)
        trunk = fake_cna('aa:aa:aa:aa:aa:aa', vsw_uuid='vsw1', pvid=5,
                         trunk=True)
        other_trunk = fake_cna('bb:aa:aa:aa:aa:aa', vsw_uuid='vsw1', pvid=6,
                               trunk=True)
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        return_value=[trunk, other_trunk]) as get:
            vif.unplug(self.adapter, self.inst, self._ovs(),
                       cna_list=[client])
            get.assert_called_once_with(self.adapter, parent=self.mgmt)
        self.assertEqual(1, self.os_vif.unplug.call_count)
        trunk.delete.assert_called_once_with()
        client.delete.assert_called_once_with()
        self.assertFalse(other_trunk.delete.called)

    def test_unplug_client_first_its_failure_changes_nothing(self):
        # Interface detach: the partition's adapter goes before the host
        # side, so a refused DELETE leaves the VIF whole.
        client = fake_cna('fa:16:3e:00:00:01', vsw_uuid='vsw1', pvid=5)
        client.delete.side_effect = pvm_exc.Error('refused')
        trunk = fake_cna('aa:aa:aa:aa:aa:aa', vsw_uuid='vsw1', pvid=5,
                         trunk=True)
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        return_value=[trunk]):
            self.assertRaises(exc.VifUnplugFailed, vif.unplug, self.adapter,
                              self.inst, self._ovs(), cna_list=[client])
        self.assertFalse(trunk.delete.called)
        self.assertFalse(self.os_vif.unplug.called)

    def test_unplug_client_gone_still_removes_trunk_by_devname(self):
        trunk = fake_cna('aa:aa:aa:aa:aa:aa', vsw_uuid='vsw1', pvid=5,
                         trunk=True, dev='tap1f1d7e5c-7b')
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        return_value=[trunk]):
            vif.unplug(self.adapter, self.inst, self._ovs(), cna_list=[])
        trunk.delete.assert_called_once_with()

    def test_unplug_vifs_partition_deleted_keeps_clients(self):
        client = fake_cna('fa:16:3e:00:00:01', vsw_uuid='vsw1', pvid=5)
        sea = fake_cna('fa:16:3e:00:00:02')
        trunk = fake_cna('aa:aa:aa:aa:aa:aa', vsw_uuid='vsw1', pvid=5,
                         trunk=True)

        def _get(adapter, parent=None, **kw):
            return [trunk] if parent is self.mgmt else [client, sea]
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        side_effect=_get) as get:
            vif.unplug_vifs(self.adapter, self.inst,
                            [self._ovs(), make_vif(mac='fa:16:3e:00:00:02')],
                            partition_deleted=True)
            self.assertEqual(2, get.call_count)
        trunk.delete.assert_called_once_with()
        self.assertFalse(client.delete.called)
        self.assertFalse(sea.delete.called)
        self.assertEqual(1, self.os_vif.unplug.call_count)

    def test_unplug_vifs_partition_deleted_sea_only_no_request(self):
        with mock.patch('pypowervm.wrappers.network.CNA.get') as get:
            vif.unplug_vifs(self.adapter, self.inst, [make_vif()],
                            partition_deleted=True)
            self.assertFalse(get.called)

    def test_unplug_vifs_reads_mgmt_adapters_once(self):
        c1 = fake_cna('fa:16:3e:00:00:01', vsw_uuid='vsw1', pvid=5)
        c2 = fake_cna('fa:16:3e:00:00:02', vsw_uuid='vsw1', pvid=6)
        t1 = fake_cna('aa:aa:aa:aa:aa:01', vsw_uuid='vsw1', pvid=5,
                      trunk=True)
        t2 = fake_cna('aa:aa:aa:aa:aa:02', vsw_uuid='vsw1', pvid=6,
                      trunk=True)

        def _get(adapter, parent=None, **kw):
            return [t1, t2] if parent is self.mgmt else [c1, c2]
        with mock.patch('pypowervm.wrappers.network.CNA.get',
                        side_effect=_get) as get:
            second = self._ovs(mac='fa:16:3e:00:00:02',
                               port_id='2f1d7e5c-7b7a-4c2a-9d6e-5a7fdc1b0d02')
            vif.unplug_vifs(self.adapter, self.inst, [self._ovs(), second])
            self.assertEqual(2, get.call_count)
        for w in (c1, c2, t1, t2):
            w.delete.assert_called_once_with()

    def test_unplug_plugged_deletes_exactly_created(self):
        res = vif.plug(self.adapter, self.inst, self._ovs())
        with mock.patch('pypowervm.wrappers.network.CNA.get') as get:
            vif.unplug_plugged(self.adapter, self.inst, res)
            self.assertFalse(get.called)
        for w in self.created:
            w.delete.assert_called_once_with()

    def test_mgmt_partition_looked_up_once(self):
        vif.plug(self.adapter, self.inst, self._ovs())
        vif.plug(self.adapter, self.inst, self._ovs(mac='fa:16:3e:00:00:02'))
        self.assertEqual(1, self.get_mgmt.call_count)


class TestMgmtVif(VifTestBase):

    def test_creates_switch_and_cna_vlan_4094(self):
        with mock.patch('pypowervm.wrappers.network.VSwitch.bld') as vbld:
            vbld.return_value.create.return_value = fake_vswitch(
                'MGMTSWITCH', 'vsw5')
            cna = vif.plug_mgmt_vif(self.adapter, self.inst, [])
            vbld.assert_called_once_with(self.adapter, 'MGMTSWITCH')
        self.bld.assert_called_once_with(self.adapter, 4094,
                                         VSW_BASE + 'vsw5')
        self.assertIs(self.created[0], cna)

    def test_switch_created_concurrently_is_used(self):
        err = pvm_exc.HttpError(mock.Mock(status=409, reqmethod='PUT',
                                          reqpath='x', body='', headers={}))
        with mock.patch('pypowervm.wrappers.network.VSwitch.bld') as vbld:
            def _create(**kw):
                self.vswitches.append(fake_vswitch('MGMTSWITCH', 'vsw5'))
                raise err
            vbld.return_value.create.side_effect = _create
            vif.plug_mgmt_vif(self.adapter, self.inst, [])
        self.assertEqual(2, self.vsw_get.call_count)
        self.bld.assert_called_once_with(self.adapter, 4094,
                                         VSW_BASE + 'vsw5')

    def test_absent_switch_no_reread_within_ttl(self):
        vif.plug(self.adapter, self.inst, make_vif(physnet='nosuch'))
        with mock.patch('pypowervm.wrappers.network.VSwitch.bld') as vbld:
            vbld.return_value.create.return_value = fake_vswitch(
                'MGMTSWITCH', 'vsw5')
            vif.plug_mgmt_vif(self.adapter, self.inst, [])
        self.assertEqual(1, self.vsw_get.call_count)

    def test_existing_switch_no_create(self):
        self.vswitches.append(fake_vswitch('MGMTSWITCH', 'vsw5'))
        with mock.patch('pypowervm.wrappers.network.VSwitch.bld') as vbld:
            vif.plug_mgmt_vif(self.adapter, self.inst, [])
            self.assertFalse(vbld.called)

    def test_already_present_returns_it(self):
        self.vswitches.append(fake_vswitch('MGMTSWITCH', 'vsw5'))
        have = fake_cna('aa:bb:cc:dd:ee:ff', vsw_uuid='vsw5', pvid=4094)
        self.assertIs(have, vif.plug_mgmt_vif(self.adapter, self.inst,
                                              [fake_cna('fa:16:3e:00:00:01'),
                                               have]))
        self.assertFalse(self.bld.called)


class TestHelpers(test.NoDBTestCase):

    def test_norm_mac(self):
        self.assertEqual('fa:16:3e:00:00:01', vif.norm_mac('FA163E000001'))
        self.assertEqual('fa:16:3e:00:00:01',
                         vif.norm_mac('FA:16:3E:00:00:01'))


class TestBuildCna(test.NoDBTestCase):
    """vif.build_cna: pypowervm's CNA, built once per PVID and vswitch."""

    def setUp(self):
        super().setUp()
        self.adapter = mock.Mock(name='adapter')
        self.addCleanup(vif.reset_cache)

    def _fresh(self, pvid, href, mac):
        return pvm_net.CNA.bld(self.adapter, pvid, href, mac_addr=mac)

    def test_same_xml_as_pypowervm(self):
        hrefs = [VSW_BASE + 'vsw0', VSW_BASE + 'vsw1']
        cases = ((100, hrefs[0], 'fa:16:3e:00:00:01'),
                 (100, hrefs[0], 'FA163E000002'),
                 (101, hrefs[0], 'fa:16:3e:00:00:03'),
                 (100, hrefs[1], 'fa:16:3e:00:00:04'),
                 (100, hrefs[0], 'fa:16:3e:00:00:05'))
        want = [self._fresh(*case).toxmlstring() for case in cases]
        with mock.patch.object(pvm_net.CNA, 'bld',
                               side_effect=pvm_net.CNA.bld) as bld:
            for case, xml in zip(cases, want):
                cna = vif.build_cna(self.adapter, *case)
                self.assertIsInstance(cna, pvm_net.CNA)
                self.assertEqual(xml, cna.toxmlstring())
        # Built by pypowervm once per (PVID, vswitch); copies otherwise.
        self.assertEqual(3, bld.call_count)

    def test_copies_are_independent(self):
        href = VSW_BASE + 'vsw0'
        one = vif.build_cna(self.adapter, 100, href, 'fa:16:3e:00:00:01')
        two = vif.build_cna(self.adapter, 100, href, 'fa:16:3e:00:00:02')
        three = vif.build_cna(self.adapter, 100, href, 'fa:16:3e:00:00:03')
        self.assertEqual(['FA163E000001', 'FA163E000002', 'FA163E000003'],
                         [c.mac for c in (one, two, three)])
        self.assertIsNot(two.entry.element.element,
                         three.entry.element.element)

    def test_reset_forgets(self):
        href = VSW_BASE + 'vsw0'
        vif.build_cna(self.adapter, 100, href, 'fa:16:3e:00:00:01')
        vif.reset_cache(mock.Mock())
        self.assertEqual(1, len(vif._cnas))
        vif.reset_cache(self.adapter)
        self.assertEqual(0, len(vif._cnas))
