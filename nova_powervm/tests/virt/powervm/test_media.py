"""Unit tests for media.py (config drive): what is sent to pypowervm."""
import os
from unittest import mock

import fixtures
from nova import test
from nova.tests.unit import fake_instance
from pypowervm import exceptions as pvm_exc

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import media

VIOS = 'vios-uuid-1'
VG = 'vg-uuid-1'


class TestMedia(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.flags(group='powervm', image_meta_local_path=self.tmp,
                   vopt_media_volume_group='datavg', vopt_media_rep_size=2)
        self.adapter = mock.Mock(name='adapter')
        self.inst = fake_instance.fake_instance_obj(
            mock.sentinel.ctx, name='vm1',
            uuid='49629a5c-f4c4-4721-9511-9725786ff2e5')
        self.lpar_uuid = ids.pvm_uuid(self.inst)
        self.validate = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.vopt.validate_vopt_repo_exists',
            return_value=(VIOS, VG))).mock
        self.inst_md = self.useFixture(fixtures.MockPatch(
            'nova.api.metadata.base.InstanceMetadata')).mock
        self.cdb = self.useFixture(fixtures.MockPatch(
            'nova.virt.configdrive.ConfigDriveBuilder')).mock
        self.iso_bytes = b'ISO9660-image'

        def _make_drive(path):
            self.built_path = path
            with open(path, 'wb') as f:
                f.write(self.iso_bytes)
        self.cdb.return_value.__enter__.return_value.make_drive.side_effect = (
            _make_drive)
        self.uploaded = {}

        def _upload(adapter, v_uuid, stream, name, f_size=None):
            self.uploaded.update(vios=v_uuid, data=stream.read(), name=name,
                                 size=f_size)
            return mock.sentinel.vopt, None
        self.upload = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.storage.upload_vopt',
            side_effect=_upload)).mock
        self.addCleanup(media.reset_cache, self.adapter)

    @staticmethod
    def _ftsk():
        return mock.Mock(wrapper_tasks={VIOS: mock.Mock()})

    def test_media_name_unique_and_short(self):
        name = media.media_name(self.inst)
        self.assertEqual('cfg_49629a5cf4c44721951197257', name[:29])
        self.assertLessEqual(len(name), 37)
        other = fake_instance.fake_instance_obj(
            mock.sentinel.ctx, name='vm1',
            uuid='49629a5c-f4c4-4721-9511-9725786ff2e6')
        self.assertNotEqual(name, media.media_name(other))

    def test_create_builds_uploads_maps_and_removes_iso(self):
        ftsk = mock.Mock()
        wtsk = mock.Mock()
        ftsk.wrapper_tasks = {VIOS: wtsk, 'other': mock.Mock()}
        name = media.create_cfg_drive(
            self.adapter, self.inst, [('/etc/x', b'y')], ['nwinfo'],
            stg_ftsk=ftsk, admin_pass='pw')
        self.assertEqual(media.media_name(self.inst), name)
        self.validate.assert_called_once_with(self.adapter, 'datavg', 2)
        self.inst_md.assert_called_once_with(
            self.inst, content=[('/etc/x', b'y')],
            extra_md={'admin_pass': 'pw'}, network_info=['nwinfo'])
        self.cdb.assert_called_once_with(instance_md=self.inst_md.return_value)
        self.assertEqual(os.path.join(self.tmp, name + '.iso'),
                         self.built_path)
        self.assertEqual({'vios': VIOS, 'data': self.iso_bytes, 'name': name,
                          'size': len(self.iso_bytes)}, self.uploaded)
        self.assertFalse(os.path.exists(self.built_path))
        # Mapping queued on the repository VIOS's wrapper task only.
        self.assertEqual(1, wtsk.add_functor_subtask.call_count)
        self.assertFalse(ftsk.wrapper_tasks['other'].add_functor_subtask
                         .called)
        # The functor builds and adds the vSCSI mapping for the partition.
        func = wtsk.add_functor_subtask.call_args[0][0]
        vios_w = mock.Mock()
        with mock.patch('nova_powervm.virt.powervm.media.scsi_maps.'
                        'map_storage') as add:
            self.assertIs(add.return_value, func(vios_w))
        add.assert_called_once_with(vios_w, self.lpar_uuid,
                                    mock.sentinel.vopt)

    def test_repository_lookup_cached(self):
        ftsk = mock.Mock(wrapper_tasks={VIOS: mock.Mock()})
        media.create_cfg_drive(self.adapter, self.inst, [], [], stg_ftsk=ftsk)
        media.create_cfg_drive(self.adapter, self.inst, [], [], stg_ftsk=ftsk)
        self.assertEqual(1, self.validate.call_count)

    def test_no_ftsk_maps_immediately(self):
        with mock.patch.object(media.batch, 'update') as update, \
                mock.patch('pypowervm.wrappers.virtual_io_server.VIOS.'
                           'getter') as getter:
            media.create_cfg_drive(self.adapter, self.inst, [], [])
        # One VIOS update of the repository VIOS, with its SCSI mappings,
        # from the wrapper this process kept of it (batch).
        getter.assert_called_once_with(self.adapter, entry_uuid=VIOS,
                                       xag=['ViosSCSIMapping'])
        update.assert_called_once_with(
            ('VirtualIOServer', VIOS, ('ViosSCSIMapping',)),
            getter.return_value, mock.ANY, name='cfg_drive_map',
            answer=None, reuse=True)
        # Its change maps the media to the partition.
        func = update.call_args[0][2]
        vios_w = mock.Mock()
        with mock.patch('nova_powervm.virt.powervm.media.scsi_maps.'
                        'map_storage') as add:
            self.assertIs(add.return_value, func(vios_w))
        add.assert_called_once_with(vios_w, self.lpar_uuid,
                                    mock.sentinel.vopt)

    def test_mgmt_cna_added_as_link_local_vif(self):
        cna = mock.Mock(mac='FA163E000001')
        media.create_cfg_drive(self.adapter, self.inst, [], [],
                               stg_ftsk=self._ftsk(),
                               mgmt_cna=cna)
        nwinfo = self.inst_md.call_args[1]['network_info']
        self.assertEqual(1, len(nwinfo))
        ip = nwinfo[0]['network']['subnets'][0]['ips'][0]['address']
        self.assertEqual('fe80::f816:3eff:fe00:1', ip)

    def test_mgmt_cna_not_injected_without_ipv6_scheme(self):
        self.flags(group='powervm', use_rmc_ipv6_scheme=False)
        media.create_cfg_drive(self.adapter, self.inst, [], [],
                               stg_ftsk=self._ftsk(),
                               mgmt_cna=mock.Mock(mac='FA163E000001'))
        self.assertEqual([], self.inst_md.call_args[1]['network_info'])

    def test_upload_failure_removes_partial_media_and_iso(self):
        self.upload.side_effect = pvm_exc.Error('upload broke')
        with mock.patch.object(media, '_remove_media') as rm:
            ex = self.assertRaises(exc.ConfigDriveFailed,
                                   media.create_cfg_drive, self.adapter,
                                   self.inst, [], [], stg_ftsk=mock.Mock())
        self.assertIn('upload broke', str(ex))
        rm.assert_called_once_with(self.adapter, media.media_name(self.inst))
        self.assertEqual([], os.listdir(self.tmp))
        # The repository is looked up again next time.
        self.upload.side_effect = None
        self.upload.return_value = (mock.sentinel.vopt, None)
        media.create_cfg_drive(self.adapter, self.inst, [], [],
                               stg_ftsk=self._ftsk())
        self.assertEqual(2, self.validate.call_count)

    def test_build_failure_uploads_nothing(self):
        self.cdb.return_value.__enter__.return_value.make_drive.side_effect = (
            OSError('mkisofs missing'))
        self.assertRaises(exc.ConfigDriveFailed, media.create_cfg_drive,
                          self.adapter, self.inst, [], [])
        self.assertFalse(self.upload.called)

    def test_no_repository_clear_error(self):
        self.validate.side_effect = pvm_exc.NoMediaRepoVolumeGroupFound(
            vol_grp='datavg')
        ex = self.assertRaises(exc.NoMediaRepository,
                               media.create_cfg_drive, self.adapter,
                               self.inst, [], [])
        self.assertIn('datavg', str(ex))
        self.assertFalse(self.upload.called)

    def _vg_with(self, *names):
        vg = mock.Mock()
        opts = []
        for n in names:
            m = mock.Mock(media_name=n)
            opts.append(m)
        vg.vmedia_repos = [mock.Mock(optical_media=opts)]
        return vg, opts

    def test_delete_with_ftsk_queues_unmap_then_deletes_media(self):
        ftsk = mock.Mock()
        name = media.media_name(self.inst)
        media.delete_cfg_drive(self.adapter, self.inst, stg_ftsk=ftsk)
        func = ftsk.add_functor_subtask.call_args[0][0]
        post = ftsk.add_post_execute.call_args[0][0]
        vios_w = mock.Mock()
        with mock.patch.object(media.scsi_maps, 'remove_maps') as rm:
            self.assertIs(rm.return_value, func(vios_w))
            rm.assert_called_once_with(vios_w, self.lpar_uuid,
                                       match_func=mock.ANY)
        vg, opts = self._vg_with('other', name)
        with mock.patch('pypowervm.wrappers.storage.VG.get',
                        return_value=vg) as get, mock.patch(
                'pypowervm.tasks.storage.rm_vg_storage') as rmvg:
            post.execute()
        get.assert_called_once_with(self.adapter, uuid=VG,
                                    parent_type=mock.ANY, parent_uuid=VIOS)
        rmvg.assert_called_once_with(vg, vopts=[opts[1]])

    def test_delete_absent_media_no_update(self):
        vg, _opts = self._vg_with('other')
        with mock.patch('pypowervm.wrappers.storage.VG.get',
                        return_value=vg), mock.patch(
                'pypowervm.tasks.storage.rm_vg_storage') as rmvg, \
                mock.patch.object(media.batch, 'update') as update:
            media.delete_cfg_drive(self.adapter, self.inst)
        update.assert_called_once_with(
            ('VirtualIOServer', VIOS, ('ViosSCSIMapping',)), mock.ANY,
            mock.ANY, name='cfg_drive_unmap', answer=None, reuse=True)
        self.assertFalse(rmvg.called)

    def test_delete_without_repository_is_noop(self):
        self.validate.side_effect = pvm_exc.NoMediaRepoVolumeGroupFound(
            vol_grp='datavg')
        ftsk = mock.Mock()
        media.delete_cfg_drive(self.adapter, self.inst, stg_ftsk=ftsk)
        self.assertFalse(ftsk.add_functor_subtask.called)

    def test_match_func_matches_only_our_media(self):
        match = media._match_media('cfg_abc')
        from pypowervm.wrappers import storage as pvm_stg
        mine = mock.Mock(spec=pvm_stg.VOptMedia, media_name='cfg_abc')
        other = mock.Mock(spec=pvm_stg.VOptMedia, media_name='cfg_xyz')
        self.assertTrue(match(mine))
        self.assertFalse(match(other))

    def test_mac_to_link_local(self):
        self.assertEqual('fe80::a8bb:ccff:fedd:eeff',
                         media.mac_to_link_local('aa:bb:cc:dd:ee:ff'))
