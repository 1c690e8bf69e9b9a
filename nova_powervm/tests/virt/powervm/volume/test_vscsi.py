"""vSCSI connector: what reaches pypowervm (discovery jobs, VIOS POSTs)."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import partition as pvm_par
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm.tests.virt.powervm.volume import fakes
from nova_powervm.virt.powervm.volume import vscsi

TARGET = '500507680b2155e4'
TARGET2 = '500507680b2155e5'
AVAIL = tsk_hdisk.LUAStatus.DEVICE_AVAILABLE
UDID = '01M0lCTTIxNDUxMjQ2MDA1MDc2RDAyODEwMTg3RTAwMDAwMDAwMDAwMDA5OQ=='


def conn_info(**data):
    base = {'volume_id': 'vol-1', 'target_wwn': [TARGET],
            'target_lun': 2}
    base.update(data)
    return {'driver_volume_type': 'fibre_channel', 'data': base}


class VscsiTestBase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.srv = fakes.FakeVioServer()
        self.adpt = self.srv.adpt
        self.inst = fakes.FakeInstance()
        vscsi._PFC_CACHE.clear()
        self.discover = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.discover_hdisk')).mock
        self.discover.return_value = (AVAIL, 'hdisk9', UDID)
        self.rm_hdisk = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.remove_hdisk')).mock

    def vol(self, info=None, stg_ftsk=None):
        return vscsi.VscsiVolumeAdapter(
            self.adpt, fakes.HOST_UUID, self.inst, info or conn_info(),
            stg_ftsk=stg_ftsk)

    def mapped(self, vios_uuid, name='hdisk9'):
        """PV mappings of the instance to ``name`` on a VIOS (posted)."""
        vm_uuid = self.vol().vm_uuid
        return tsk_map.find_maps(
            self.srv.vios(vios_uuid).scsi_mappings, vm_uuid,
            match_func=tsk_map.gen_match_func(pvm_stor.PV, names=[name]))


class TestConnector(VscsiTestBase):

    def test_connector_wwpns_all_physical_ports_cached(self):
        props = vscsi.VscsiVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertEqual(sorted(fakes.VIOS1_PORTS + fakes.VIOS2_PORTS),
                         sorted(props['wwpns']))
        self.assertEqual([['ViosStorage']], self.srv.reads)
        vscsi.VscsiVolumeAdapter.get_connector_properties(
            self.adpt, fakes.HOST_UUID, self.inst)
        self.assertEqual(1, len(self.srv.reads))

    def test_bad_connection_info_fails_before_any_request(self):
        for data in ({'target_wwn': []}, {'target_wwn': ['xyz']},
                     {'target_lun': None}, {'target_lun': 'two'},
                     {'target_lun': -1},
                     {'target_wwn': [TARGET, TARGET2],
                      'target_luns': [1, 2, 3]}):
            vol = self.vol(conn_info(**data))
            exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                    vol.connect_volume)
            self.assertIn('vol-1', str(exc))
            self.assertIn('invalid connection_info', str(exc))
        self.assertEqual([], self.srv.reads)
        self.assertEqual([], self.srv.posts)


class TestConnect(VscsiTestBase):

    def test_connect_discovers_and_maps_on_every_vios(self):
        info = conn_info()
        self.vol(info).connect_volume()
        # One feed GET with the mapping + storage groups.
        self.assertEqual([['ViosSCSIMapping', 'ViosStorage']],
                         self.srv.reads)
        # Discovery per VIOS, with ITLs from that VIOS's own ports.
        self.assertEqual(2, self.discover.call_count)
        for call in self.discover.call_args_list:
            vios_uuid, itls = call.args[1], call.args[2]
            ports = (fakes.VIOS1_PORTS if vios_uuid == fakes.VIOS1
                     else fakes.VIOS2_PORTS)
            self.assertEqual(
                {(p, TARGET, tsk_hdisk.normalize_lun(2)) for p in ports},
                {(i.initiator, i.target, i.lun) for i in itls})
        # One POST per VIOS, each now mapping hdisk9 to the instance.
        self.assertEqual(sorted([fakes.VIOS1, fakes.VIOS2]),
                         sorted(self.srv.posts))
        for vios_uuid in (fakes.VIOS1, fakes.VIOS2):
            maps = self.mapped(vios_uuid)
            self.assertEqual(1, len(maps))
            self.assertEqual(UDID, maps[0].backing_storage.udid)
        self.assertEqual(UDID, info['data'][vscsi.UDID_KEY])
        self.rm_hdisk.assert_not_called()

    def test_connect_twice_posts_nothing_new(self):
        self.vol().connect_volume()
        self.srv.posts = []
        self.vol().connect_volume()
        self.assertEqual([], self.srv.posts)
        self.assertEqual(1, len(self.mapped(fakes.VIOS1)))

    def test_initiator_target_map_limits_vioses(self):
        info = conn_info(initiator_target_map={
            fakes.VIOS2_PORTS[0].upper(): [TARGET]})
        self.vol(info).connect_volume()
        self.discover.assert_called_once()
        self.assertEqual(fakes.VIOS2, self.discover.call_args.args[1])
        itls = self.discover.call_args.args[2]
        self.assertEqual([fakes.VIOS2_PORTS[0]], [i.initiator for i in itls])
        self.assertEqual([fakes.VIOS2], self.srv.posts)

    def test_not_enough_vioses_cleans_up_and_fails(self):
        self.flags(vscsi_vios_connections_required=2, group='powervm')

        def discover(adpt, vios_uuid, itls, **kw):
            if vios_uuid == fakes.VIOS1:
                return AVAIL, 'hdisk9', UDID
            return tsk_hdisk.LUAStatus.ITL_NOT_RELIABLE, None, None
        self.discover.side_effect = discover
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.vol().connect_volume)
        self.assertIn('found on 1 Virtual I/O Server(s), 2 required',
                      str(exc))
        self.assertEqual([], self.srv.posts)
        self.rm_hdisk.assert_called_once_with(self.adpt, '', 'hdisk9',
                                              fakes.VIOS1)

    def test_fewer_active_vioses_than_required_fails_first(self):
        self.flags(vscsi_vios_connections_required=3, group='powervm')
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.vol().connect_volume)
        self.assertIn('vol-1', str(exc))
        self.discover.assert_not_called()
        self.assertEqual([], self.srv.posts)

    def test_discovery_job_error_counts_as_not_found(self):
        def discover(adpt, vios_uuid, itls, **kw):
            if vios_uuid == fakes.VIOS1:
                raise fakes.http_error(500)
            return AVAIL, 'hdisk9', UDID
        self.discover.side_effect = discover
        self.vol().connect_volume()
        self.assertEqual([fakes.VIOS2], self.srv.posts)

    def test_nowhere_found(self):
        self.discover.return_value = (
            tsk_hdisk.LUAStatus.INCORRECT_ITL, None, None)
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.vol().connect_volume)
        self.assertEqual([], self.srv.posts)
        self.rm_hdisk.assert_not_called()

    def test_post_failure_reverts_everything(self):
        self.srv.fail_post[fakes.VIOS2] = fakes.http_error(500)
        info = conn_info()
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.vol(info).connect_volume)
        self.assertIn('mapping the hdisk failed', str(exc))
        self.assertEqual([], self.mapped(fakes.VIOS1))
        self.assertEqual([], self.mapped(fakes.VIOS2))
        self.assertEqual(
            {(fakes.VIOS1,), (fakes.VIOS2,)},
            {(c.args[3],) for c in self.rm_hdisk.call_args_list})

    def test_shared_feed_task_queues_without_posting(self):
        ftsk = pvm_par.build_active_vio_feed_task(
            self.adpt, xag=vscsi.VscsiVolumeAdapter.min_xags())
        self.vol(stg_ftsk=ftsk).connect_volume()
        self.assertEqual([], self.srv.posts)
        ftsk.execute()
        self.assertEqual(2, len(self.srv.posts))
        self.assertEqual(1, len(self.mapped(fakes.VIOS1)))


class TestDisconnect(VscsiTestBase):

    def attached(self):
        info = conn_info()
        self.vol(info).connect_volume()
        self.srv.posts = []
        self.srv.reads = []
        self.discover.reset_mock()
        return info

    def test_disconnect_unmaps_and_removes_hdisks(self):
        info = self.attached()
        self.vol(info).disconnect_volume()
        self.assertEqual(1, len(self.srv.reads))
        self.discover.assert_not_called()
        self.assertEqual(sorted([fakes.VIOS1, fakes.VIOS2]),
                         sorted(self.srv.posts))
        self.assertEqual([], self.mapped(fakes.VIOS1))
        self.assertEqual([], self.mapped(fakes.VIOS2))
        self.assertEqual(
            sorted([(self.adpt, '', 'hdisk9', fakes.VIOS1),
                    (self.adpt, '', 'hdisk9', fakes.VIOS2)]),
            sorted(c.args for c in self.rm_hdisk.call_args_list))

    def test_two_volumes_one_shared_transaction(self):
        # Destroy: both volumes unmapped with one POST per VIOS, hdisks
        # removed after it (VIOS1 maps only the first volume).
        info1 = self.attached()
        self.discover.return_value = (AVAIL, 'hdisk10', UDID + 'x')
        info2 = conn_info(volume_id='vol-2', initiator_target_map={
            fakes.VIOS2_PORTS[0]: [TARGET]})
        self.vol(info2).connect_volume()
        self.assertEqual([], self.mapped(fakes.VIOS1, 'hdisk10'))
        self.srv.posts = []
        ftsk = pvm_par.build_active_vio_feed_task(
            self.adpt, xag=vscsi.VscsiVolumeAdapter.min_xags())
        for info in (info1, info2):
            self.vol(info, stg_ftsk=ftsk).disconnect_volume()
        self.assertEqual([], self.srv.posts)
        ftsk.execute()
        self.assertEqual(sorted([fakes.VIOS1, fakes.VIOS2]),
                         sorted(self.srv.posts))
        for name in ('hdisk9', 'hdisk10'):
            for vios_uuid in (fakes.VIOS1, fakes.VIOS2):
                self.assertEqual([], self.mapped(vios_uuid, name))
        self.assertEqual(
            sorted([('hdisk9', fakes.VIOS1), ('hdisk9', fakes.VIOS2),
                    ('hdisk10', fakes.VIOS2)]),
            sorted(c.args[2:] for c in self.rm_hdisk.call_args_list))

    def test_disconnect_keeps_hdisk_another_partition_maps(self):
        info = self.attached()
        other = fakes.FakeInstance(uuid='0c4e1ac1-0000-4000-8000-000000000001')
        vscsi.VscsiVolumeAdapter(self.adpt, fakes.HOST_UUID, other,
                                 conn_info()).connect_volume()
        self.vol(info).disconnect_volume()
        self.rm_hdisk.assert_not_called()
        self.assertEqual([], self.mapped(fakes.VIOS1))

    def test_disconnect_looks_only_at_the_volumes_mappings(self):
        # A VIOS holds a mapping per disk of every partition of the host
        # (hundreds): detach and extend look at only the instance's and
        # the hdisk's, never at every mapping.
        info = self.attached()
        vm_uuid = self.vol().vm_uuid
        others = sum(len(self.srv.vios(u).scsi_mappings) for u in (
            fakes.VIOS1, fakes.VIOS2)) - 2
        self.assertGreater(others, 10)
        scan = mock.patch.object(tsk_map, 'find_maps',
                                 wraps=tsk_map.find_maps)

        def handed(find_maps):
            return [m for c in find_maps.call_args_list for m in c.args[0]]
        with scan as find_maps:
            self.vol(info).extend_volume()
        self.assertEqual(2, len(handed(find_maps)))
        with scan as find_maps:
            self.vol(info).disconnect_volume()
        self.assertTrue(find_maps.called)
        for smap in handed(find_maps):
            self.assertTrue(
                vm_uuid.lower() in (smap.client_lpar_href or '').lower() or
                'hdisk9' in smap.backing_storage.toxmlstring().decode())
        self.assertEqual(2, self.rm_hdisk.call_count)

    def test_disconnect_idempotent(self):
        info = self.attached()
        self.vol(info).disconnect_volume()
        self.srv.posts = []
        self.rm_hdisk.reset_mock()
        self.vol(info).disconnect_volume()
        self.assertEqual([], self.srv.posts)
        self.rm_hdisk.assert_not_called()

    def test_disconnect_without_udid_discovers(self):
        self.attached()
        self.vol(conn_info()).disconnect_volume()
        self.assertTrue(self.discover.called)
        self.assertEqual([], self.mapped(fakes.VIOS1))

    def test_hdisk_removal_failure_raises(self):
        info = self.attached()
        self.rm_hdisk.side_effect = fakes.http_error(500)
        exc = self.assertRaises(nova_exc.VolumeDetachFailed,
                                self.vol(info).disconnect_volume)
        self.assertIn('could not remove hdisk', str(exc))

    def test_post_failure_raises_detach_failed(self):
        info = self.attached()
        self.srv.fail_post[fakes.VIOS1] = fakes.http_error(500)
        self.assertRaises(nova_exc.VolumeDetachFailed,
                          self.vol(info).disconnect_volume)


class TestExtend(VscsiTestBase):

    def test_extend_rescans_mapping_vioses(self):
        info = conn_info()
        self.vol(info).connect_volume()
        self.discover.reset_mock()
        self.srv.posts = []
        self.vol(info).extend_volume()
        self.assertEqual(2, self.discover.call_count)
        self.assertEqual([], self.srv.posts)

    def test_extend_unattached_fails(self):
        info = conn_info()
        info['data'][vscsi.UDID_KEY] = UDID
        self.assertRaises(nova_exc.VolumeExtendFailed,
                          self.vol(info).extend_volume)
        self.assertRaises(nova_exc.VolumeExtendFailed,
                          self.vol(conn_info()).extend_volume)

    def test_extend_rescan_failure(self):
        info = conn_info()
        self.vol(info).connect_volume()
        self.discover.side_effect = fakes.http_error(500)
        self.assertRaises(nova_exc.VolumeExtendFailed,
                          self.vol(info).extend_volume)


class TestTargets(test.NoDBTestCase):

    def test_luns_per_target_and_itmap(self):
        t = vscsi.FCTargets('v', {
            'target_wwns': ['50:05:07:68:0b:21:55:e4', TARGET2.upper()],
            'target_luns': [1, 2],
            'initiator_target_map': {'AA00000000000001': [TARGET2]}})
        itls = t.itls(['aa00000000000001', 'aa00000000000002'])
        self.assertEqual([('aa00000000000001', TARGET2,
                           tsk_hdisk.normalize_lun(2))],
                         [(i.initiator, i.target, i.lun) for i in itls])
        t = vscsi.FCTargets('v', {'target_wwn': TARGET, 'target_lun': '3'})
        self.assertEqual(2, len(t.itls(['a' * 16, 'b' * 16])))
