"""The pvm_sea ML2 mechanism driver: what it hands neutron's binding."""
from unittest import mock

from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api
from oslo_config import cfg

from nova_powervm.network import ml2_pvm_sea as mech
from nova_powervm.tests import base as test_base


def segment(net_type, seg_id=None, physnet='default', sid='seg-1'):
    return {api.ID: sid, api.NETWORK_TYPE: net_type,
            api.SEGMENTATION_ID: seg_id, api.PHYSICAL_NETWORK: physnet}


class TestPvmSeaMech(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(cfg.CONF.clear_override, 'hosts', 'ml2_pvm_sea')
        self.drv = mech.PvmSeaMechanismDriver()
        self.drv.initialize()

    def context(self, segments, host='pvm1', vnic=portbindings.VNIC_NORMAL,
                agents=({'alive': True},), status='DOWN', original_host=''):
        ctx = mock.Mock(spec=api.PortContext)
        ctx.current = {'id': 'port-1', portbindings.VNIC_TYPE: vnic,
                       'status': status, 'device_owner': 'compute:nova'}
        ctx.host = host
        ctx.original_host = original_host
        ctx.segments_to_bind = segments
        ctx.host_agents.return_value = list(agents)
        ctx.plugin_context = mock.Mock()    # neutron's PortContext has it
        return ctx

    def test_binds_vlan_segment_with_vlan_detail(self):
        ctx = self.context([segment('vxlan', 7, None, 'seg-0'),
                            segment('vlan', 101, 'physnet1')])
        self.drv.bind_port(ctx)
        ctx.host_agents.assert_called_with('PowerVM SEA agent')
        ctx.set_binding.assert_called_once_with(
            'seg-1', 'pvm_sea', {'port_filter': False, 'vlan': '101',
                                 'sea_agent': True,
                                 'physical_network': 'physnet1'})

    def test_binds_flat_segment_as_flat(self):
        ctx = self.context([segment('flat')])
        self.drv.bind_port(ctx)
        ctx.set_binding.assert_called_once_with(
            'seg-1', 'pvm_sea', {'port_filter': False,
                                 'network_type': 'flat', 'sea_agent': True,
                                 'physical_network': 'default'})

    def test_leaves_unsupported_segments_and_vnic_types(self):
        for ctx in (self.context([segment('vxlan', 5, None)]),
                    self.context([segment('geneve', 5, None)]),
                    self.context([segment('vlan', 101)],
                                 vnic=portbindings.VNIC_DIRECT),
                    self.context([segment('vlan', 101)], host='')):
            self.drv.bind_port(ctx)
            ctx.set_binding.assert_not_called()

    def test_no_binding_without_live_agent(self):
        # No agent could put the VLAN on the SEA and report the port up.
        for agents in ((), ({'alive': False},)):
            ctx = self.context([segment('vlan', 101)], agents=agents)
            self.drv.bind_port(ctx)
            ctx.set_binding.assert_not_called()

    def test_only_configured_hosts(self):
        cfg.CONF.set_override('hosts', ['pvm1'], 'ml2_pvm_sea')
        self.drv.initialize()
        other = self.context([segment('vlan', 101)], host='kvm1')
        self.drv.bind_port(other)
        other.set_binding.assert_not_called()
        mine = self.context([segment('vlan', 101)], host='pvm1')
        self.drv.bind_port(mine)
        self.assertEqual(1, mine.set_binding.call_count)

    def _precommit(self, ctx, method='create_port_precommit'):
        pb = mock.Mock(L2_AGENT_ENTITY='L2')
        mods = {'neutron': mock.Mock(), 'neutron.db': mock.Mock(
            provisioning_blocks=pb), 'neutron.db.provisioning_blocks': pb}
        with mock.patch.dict('sys.modules', mods):
            getattr(self.drv, method)(ctx)
        return pb.add_provisioning_component

    def test_port_held_down_until_agent_reports_up(self):
        # The L2 block: only update_device_up (the agent, once the VLAN is
        # on the SEA) lets the port go ACTIVE.
        ctx = self.context([segment('vlan', 101)])
        add = self._precommit(ctx)
        add.assert_called_once_with(ctx.plugin_context, 'port-1', 'port',
                                    'L2')
        ctx = self.context([segment('vlan', 101)], original_host='pvm0')
        add = self._precommit(ctx, 'update_port_precommit')
        add.assert_called_once_with(ctx.plugin_context, 'port-1', 'port',
                                    'L2')

    def test_no_block_where_no_agent_would_lift_it(self):
        dhcp = self.context([])
        dhcp.current['device_owner'] = 'network:dhcp'
        for ctx, method in (
                (self.context([], host=''), 'create_port_precommit'),
                (self.context([], status='ACTIVE'), 'create_port_precommit'),
                (self.context([], agents=()), 'create_port_precommit'),
                (self.context([], vnic=portbindings.VNIC_DIRECT),
                 'create_port_precommit'),
                (dhcp, 'create_port_precommit'),
                # Same host: the block (if any) was added before.
                (self.context([], original_host='pvm1'),
                 'update_port_precommit')):
            self._precommit(ctx, method).assert_not_called()

    def test_no_longer_completes_provisioning_itself(self):
        self.assertFalse(hasattr(self.drv, 'update_port_postcommit') and
                         type(self.drv).update_port_postcommit is not
                         api.MechanismDriver.update_port_postcommit)

    def test_details_drive_nova_side_vlan(self):
        # What nova's vif.py reads from the binding: the VLAN, or flat.
        from nova_powervm.virt.powervm import sea_vlan
        inst = mock.Mock()
        inst.name = 'vm1'
        for seg, want in ((segment('vlan', 101), 101),
                          (segment('flat'), None)):
            vif = {'id': 'p', 'address': 'fa:16:3e:00:00:01',
                   'details': self.drv.vif_details(seg)}
            self.assertEqual(want, sea_vlan.port_vlan(inst, vif))

    def test_entry_point_registered(self):
        import configparser
        import os
        cp = configparser.ConfigParser()
        cp.read(os.path.join(os.path.dirname(mech.__file__), '..', '..',
                             'setup.cfg'))
        eps = cp['options.entry_points']['neutron.ml2.mechanism_drivers']
        self.assertIn('pvm_sea = nova_powervm.network.ml2_pvm_sea:'
                      'PvmSeaMechanismDriver', eps)
