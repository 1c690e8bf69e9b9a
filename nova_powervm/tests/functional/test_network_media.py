"""VIFs and the config drive against the REST simulator.

Real pypowervm over HTTP; assertions read the simulator's state back
(client and trunk adapters, vswitches, virtual networks, media, mappings)
and count the REST requests each operation costs.  os-vif (the host side of
an OVS port) is mocked: it touches the NovaLink partition's Open vSwitch,
not the REST API.
"""
import os
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova.network import model as network_model
from pypowervm import const as pvm_const
from pypowervm.tasks import partition as pvm_par
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.tests.functional import base
from nova_powervm.tests.virt.powervm.tasks import fakes
from nova_powervm.virt.powervm import media
from nova_powervm.virt.powervm.tasks import media as tf_media
from nova_powervm.virt.powervm.tasks import network as tf_net
from nova_powervm.virt.powervm import vif
from nova_powervm.virt.powervm import vm

INST = '1a2b3c4d-0000-4000-8000-0000000000aa'
NET = '5c6b1bd3-2c5d-4a3c-8b8a-0e8f4b1a2c3d'


def make_vif(n, vif_type='pvm_sea', vlan=100, physnet=None):
    net = network_model.Network(id=NET, bridge='br-int', label='private',
                                physical_network=physnet, subnets=[])
    port = '%08d-7b7a-4c2a-9d6e-5a7fdc1b0d01' % n
    return network_model.VIF(
        id=port, address='fa:16:3e:00:00:%02x' % n, type=vif_type,
        network=net, details={'vlan': vlan} if vlan else {},
        devname=('tap' + port)[:14], active=True)


class SimTestBase(base.AdapterSimTestCase):

    def setUp(self):
        super().setUp()
        self.inst = base.bare_instance(INST, 7, 'vm7')
        self.lpar_w = vm.create_lpar(self.adapter, self.host_w, self.inst)
        self.lpar_uuid = self.lpar_w.uuid
        self.os_vif = self.useFixture(
            fixtures.MockPatchObject(vif, 'os_vif')).mock

    def _mine(self, kind):
        inv = self.sim.inventory()[kind]
        return {k: v for k, v in inv.items()
                if v['partition'] == self.lpar_uuid}

    def _trunks(self):
        return self.sim.inventory()['trunk_adapters']


class TestVifsOnSimulator(SimTestBase):

    def test_sea_plug_one_request_warm(self):
        # VLAN 1000 is on the seeded SEA: once known, no request for it.
        vif.plug(self.adapter, self.inst, make_vif(1, vlan=1000),
                 lpar_wrap=self.lpar_w)
        _, reqs = self._requests(vif.plug, self.adapter, self.inst,
                                 make_vif(2, vlan=1000), lpar_wrap=self.lpar_w)
        self.assertEqual(1, len(reqs), reqs)
        self.assertEqual('PUT', reqs[0][0])
        cnas = sorted(self._mine('client_adapters').values(),
                      key=lambda c: c['mac'])
        self.assertEqual([('FA163E000001', '1000', 'ETHERNET0'),
                          ('FA163E000002', '1000', 'ETHERNET0')],
                         [(c['mac'], c['pvid'], c['vswitch']) for c in cnas])

    def test_sea_plug_vifs_cold_cache_requests(self):
        _, reqs = self._requests(
            vif.plug_vifs, self.adapter, self.inst, [make_vif(1, vlan=1000)],
            lpar_wrap=self.lpar_w, cna_list=[])
        # vswitch feed and SEA feed (once per adapter) + the adapter PUT.
        self.assertEqual(['GET', 'GET', 'PUT'], [m for m, _p in reqs], reqs)

    def test_physnet_named_vswitch(self):
        vif.plug(self.adapter, self.inst,
                 make_vif(1, physnet='NovaLinkVEABridge'),
                 lpar_wrap=self.lpar_w)
        (cna,) = self._mine('client_adapters').values()
        self.assertEqual('NovaLinkVEABridge', cna['vswitch'])

    def test_ovs_plug_trunk_pairs_with_distinct_vlans(self):
        before_vnets = self.sim.inventory()['virtual_networks']
        vif.plug_vifs(self.adapter, self.inst,
                      [make_vif(1, 'ovs', None), make_vif(2, 'ovs', None)],
                      lpar_wrap=self.lpar_w, cna_list=[])
        clients = {c['mac']: c for c in
                   self._mine('client_adapters').values()}
        trunks = list(self._trunks().values())
        self.assertEqual(2, len(trunks))
        self.assertEqual({'novalink'}, {t['partition_name'] for t in trunks})
        pvids = {c['pvid'] for c in clients.values()}
        self.assertEqual(2, len(pvids))
        self.assertEqual(pvids, {t['pvid'] for t in trunks})
        self.assertEqual({'NovaLinkVEABridge'},
                         {c['vswitch'] for c in clients.values()} |
                         {t['vswitch'] for t in trunks})
        # Host side plugged into OVS with the trunk's device name.
        names = sorted(c[0][0].vif_name for c in
                       self.os_vif.plug.call_args_list)
        self.assertEqual([make_vif(1)['devname'], make_vif(2)['devname']],
                         names)
        # Unplug removes clients, trunks, OVS ports and the VLANs.
        vif.unplug_vifs(self.adapter, self.inst,
                        [make_vif(1, 'ovs', None), make_vif(2, 'ovs', None)])
        self.assertEqual({}, self._mine('client_adapters'))
        self.assertEqual({}, self._trunks())
        self.assertEqual(2, self.os_vif.unplug.call_count)
        self.assertEqual(before_vnets,
                         self.sim.inventory()['virtual_networks'])

    def test_ovs_unplug_after_partition_gone_removes_trunk(self):
        vif.plug(self.adapter, self.inst, make_vif(1, 'ovs', None),
                 lpar_wrap=self.lpar_w)
        vm.delete_lpar(self.adapter, self.inst)
        vif.unplug_vifs(self.adapter, self.inst, [make_vif(1, 'ovs', None)])
        self.assertEqual({}, self._trunks())

    def test_unplug_idempotent(self):
        vifs = [make_vif(1), make_vif(2, 'ovs', None)]
        vif.plug_vifs(self.adapter, self.inst, vifs, lpar_wrap=self.lpar_w,
                      cna_list=[])
        vif.unplug_vifs(self.adapter, self.inst, vifs)
        inv = self.sim.inventory()
        vif.unplug_vifs(self.adapter, self.inst, vifs)
        self.assertEqual(inv, self.sim.inventory())
        self.assertEqual({}, self._mine('client_adapters'))

    def test_unplug_before_partition_delete(self):
        before = self.sim.inventory()
        vifs = [make_vif(1), make_vif(2, 'ovs', None)]
        vif.plug_vifs(self.adapter, self.inst, vifs, lpar_wrap=self.lpar_w,
                      cna_list=[])
        _, reqs = self._requests(vif.unplug_vifs, self.adapter, self.inst,
                                 vifs, partition_deleted=True)
        # Partition adapters, NovaLink adapters, the trunk DELETE.
        self.assertEqual(['GET', 'GET', 'DELETE'], [m for m, _p in reqs])
        self.assertEqual({}, self._trunks())
        vm.delete_lpar(self.adapter, self.inst)
        after = self.sim.inventory()
        self.assertEqual(
            {k: v for k, v in before.items() if k != 'partitions'},
            {k: v for k, v in after.items() if k != 'partitions'})

    def test_mgmt_vif_creates_switch_once(self):
        cna = vif.plug_mgmt_vif(self.adapter, self.inst, [],
                                lpar_wrap=self.lpar_w)
        inv = self.sim.inventory()
        names = [v['name'] for v in inv['vswitches'].values()]
        self.assertEqual(1, names.count('MGMTSWITCH'))
        (mine,) = self._mine('client_adapters').values()
        self.assertEqual(('4094', 'MGMTSWITCH'),
                         (mine['pvid'], mine['vswitch']))
        # Already there: nothing new.
        again, reqs = self._requests(vif.plug_mgmt_vif, self.adapter,
                                     self.inst, [cna], lpar_wrap=self.lpar_w)
        self.assertIs(cna, again)
        self.assertEqual([], reqs)

    def test_unknown_type_fails_before_any_request(self):
        self.sim.clear_request_log()
        ex = self.assertRaises(
            nova_exc.VirtualInterfacePlugException, vif.plug_vifs,
            self.adapter, self.inst, [make_vif(1), make_vif(2, 'macvtap')],
            lpar_wrap=self.lpar_w)
        self.assertIn('macvtap', str(ex))
        self.assertEqual([], self.sim.request_log())

    def test_sea_without_vlan_fails_before_any_request(self):
        # Was PVID 1: the instance silently on the SEA's untagged network.
        before = self.sim.inventory()
        self.sim.clear_request_log()
        ex = self.assertRaises(
            nova_exc.VirtualInterfacePlugException, vif.plug_vifs,
            self.adapter, self.inst, [make_vif(1), make_vif(2, vlan=None)],
            lpar_wrap=self.lpar_w)
        self.assertIn('needs a VLAN', str(ex))
        self.assertIn(make_vif(2)['id'], str(ex))
        self.assertEqual([], self.sim.request_log())
        self.assertEqual(before, self.sim.inventory())

    def test_rest_failure_leaves_nothing(self):
        before = self.sim.inventory()
        # The second adapter PUT fails.
        self.sim.inject_fault(method='PUT', path='ClientNetworkAdapter',
                              nth=2, status=500)
        self.assertRaises(
            nova_exc.VirtualInterfacePlugException, vif.plug_vifs,
            self.adapter, self.inst,
            [make_vif(1), make_vif(2, 'ovs', None), make_vif(3)],
            lpar_wrap=self.lpar_w, cna_list=[])
        self.assertEqual(before, self.sim.inventory())

    def test_plug_tasks_revert_leaves_nothing(self):
        before = self.sim.inventory()
        self.flags(group='powervm', use_rmc_mgmt_vif=True)
        flow = tf_lf.Flow('spawn_net')
        flow.add(fakes.Provide('lpar_wrap', self.lpar_w),
                 tf_net.PlugVifs(mock.Mock(), self.adapter, self.inst,
                                 [make_vif(1), make_vif(2, 'ovs', None)]),
                 tf_net.PlugMgmtVif(self.adapter, self.inst),
                 fakes.Fail(name='fail'))
        self.inst.task_state = 'spawning'
        self.assertRaises(ValueError, tf_eng.run, flow)
        after = self.sim.inventory()
        # MGMTSWITCH stays (as on a real host); no adapter does.
        after['vswitches'] = {k: v for k, v in after['vswitches'].items()
                              if v['name'] != 'MGMTSWITCH'}
        self.assertEqual(before, after)


class TestConfigDriveOnSimulator(SimTestBase):

    def setUp(self):
        base.require_iso_tool(self)
        super().setUp()
        self.tmp = base.use_config_drive(self)

    def _ftsk(self):
        return pvm_par.build_active_vio_feed_task(
            self.adapter, xag=[pvm_const.XAG.VIO_SMAP])

    def _media(self):
        """{vios/vg: [media names]} for groups holding media."""
        return {k: v['media'] for k, v in
                self.sim.inventory()['volume_groups'].items() if v['media']}

    def _vopt_maps(self):
        return [m for m in self.sim.inventory()['scsi_mappings']
                if m['storage_type'] == 'VirtualOpticalMedia']

    def _create(self):
        """The requests of a config drive's creation and mapping."""
        ftsk = self._ftsk()
        _, reqs = self._requests(
            tf_eng.run, tf_lf.Flow('cd').add(
                tf_media.CreateAndConnectCfgDrive(
                    self.adapter, self.inst, [], [], ftsk), ftsk))
        self.addDetail('cfgdrive_requests', _text(reqs))
        return reqs

    def test_create_and_delete(self):
        name = media.media_name(self.inst)
        before = self.sim.inventory()
        reqs = self._create()
        (media_names,) = self._media().values()
        self.assertIn(name, media_names)
        (smap,) = self._vopt_maps()
        self.assertEqual(name, smap['storage'])
        base.assert_config_drive(self, self.sim, self.inst)
        self.assertEqual({}, self.sim.inventory()['files'])
        self.assertEqual([], os.listdir(self.tmp))
        # Cold repository lookup included; a warm one is cheaper.
        self.assertLessEqual(len(reqs), 9, reqs)
        ftsk = self._ftsk()
        _, reqs = self._requests(tf_eng.run, tf_lf.Flow('del').add(
            tf_media.DeleteVOpt(self.adapter, self.inst, stg_ftsk=ftsk),
            ftsk))
        self.addDetail('cfgdrive_delete_requests', _text(reqs))
        self.assertEqual([], self._vopt_maps())
        self.assertEqual(before, self.sim.inventory())

    def test_warm_create_requests(self):
        media._repository(self.adapter)
        reqs = self._create()
        # File PUT, upload, File DELETE, VIOS update (its feed GET was
        # done when the FeedTask was built).
        self.assertLessEqual(len(reqs), 4, reqs)

    def test_delete_without_ftsk_idempotent(self):
        before = self.sim.inventory()
        media.create_cfg_drive(self.adapter, self.inst, [], [])
        self.assertEqual(1, len(self._vopt_maps()))
        media.delete_cfg_drive(self.adapter, self.inst)
        self.assertEqual(before, self.sim.inventory())
        media.delete_cfg_drive(self.adapter, self.inst)
        self.assertEqual(before, self.sim.inventory())

    def test_revert_after_mapping_removes_media_and_map(self):
        before = self.sim.inventory()
        ftsk = self._ftsk()
        self.assertRaises(ValueError, tf_eng.run, tf_lf.Flow('cd').add(
            tf_media.CreateAndConnectCfgDrive(
                self.adapter, self.inst, [], [], ftsk), ftsk,
            fakes.Fail(name='fail')))
        self.assertEqual(before, self.sim.inventory())

    def test_upload_failure_leaves_nothing(self):
        media._repository(self.adapter)
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path='/web/File/contents',
                              status=500, times=10)
        self.assertRaises(nova_exc.NovaException, media.create_cfg_drive,
                          self.adapter, self.inst, [], [],
                          stg_ftsk=self._ftsk())
        self.assertEqual(before, self.sim.inventory())
        self.assertEqual([], os.listdir(self.tmp))


def _text(reqs):
    from testtools import content
    return content.text_content('\n'.join('%s %s' % r for r in reqs))
