"""iSCSI, file I/O and RBD connectors: what reaches pypowervm."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm.tests.virt.powervm import test_live_migration
from nova_powervm.tests.virt.powervm.volume import fakes
from nova_powervm.virt.powervm.volume import driver as volume_dvr
from nova_powervm.virt.powervm.volume import fileio
from nova_powervm.virt.powervm.volume import iscsi
from nova_powervm.virt.powervm.volume import rbd
from nova_powervm.virt.powervm.volume import vscsi

IQN = 'iqn.2010-10.org.openstack:volume-1'
UDID = '01M0lSVNDU0kABC'


def iscsi_info(**data):
    base = {'volume_id': 'vol-1', 'target_portal': '10.0.0.5:3260',
            'target_iqn': IQN, 'target_lun': 1,
            'target_portals': ['10.0.0.5:3260', '10.0.0.6:3260'],
            'target_iqns': [IQN, IQN], 'target_luns': [1, 1],
            'auth_method': 'CHAP', 'auth_username': 'cinder',
            'auth_password': 'pw-secret'}
    base.update(data)
    return {'driver_volume_type': 'iscsi', 'data': base}


class _Base(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.srv = fakes.FakeVioServer()
        self.adpt = self.srv.adpt
        self.inst = fakes.FakeInstance()

    def build(self, info):
        return volume_dvr.build_volume_driver(
            self.adpt, fakes.HOST_UUID, self.inst, info)


class TestIscsi(_Base):

    def setUp(self):
        super().setUp()
        self.discover = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.discover_iscsi',
            return_value=('hdisk4', UDID))).mock
        self.remove = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.remove_iscsi')).mock

    def test_selected(self):
        self.assertIsInstance(self.build(iscsi_info()),
                              iscsi.IscsiVolumeAdapter)

    def test_connect_single_path(self):
        self.flags(iscsi_iface='iser', group='powervm')
        info = iscsi_info()
        self.build(info).connect_volume()
        self.assertEqual(2, self.discover.call_count)   # each VIOS
        args, kwargs = self.discover.call_args
        self.assertEqual((self.adpt, '10.0.0.5:3260', 'cinder', 'pw-secret',
                          IQN), args[:5])
        self.assertEqual({'lunid': 1, 'iface_name': 'iser', 'auth': 'CHAP',
                          'multipath': False, 'discovery_auth': None,
                          'discovery_username': None,
                          'discovery_password': None}, kwargs)
        self.assertEqual(UDID, info['data'][vscsi.UDID_KEY])
        self.assertEqual(2, len(self.srv.posts))
        self.remove.assert_not_called()

    def test_connect_multipath(self):
        self.flags(volume_use_multipath=True, group='powervm')
        self.build(iscsi_info()).connect_volume()
        args, kwargs = self.discover.call_args
        self.assertEqual(['10.0.0.5:3260', '10.0.0.6:3260'], args[1])
        self.assertEqual([IQN, IQN], args[4])
        self.assertEqual([1, 1], kwargs['lunid'])
        self.assertTrue(kwargs['multipath'])

    def test_failed_login_logs_out_and_names_reason(self):
        self.discover.side_effect = pvm_exc.ISCSIDiscoveryFailed(
            vios_uuid='v', status='24')
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.build(iscsi_info()).connect_volume)
        # The iSCSI reason first (nova's fault keeps 255 characters).
        self.assertIn('Reason: CHAP authentication failed', str(exc))
        self.assertNotIn('pw-secret', str(exc))
        self.assertEqual(2, self.remove.call_count)
        self.assertEqual([], self.srv.posts)

    def test_bad_connection_info_before_any_request(self):
        for data in ({'target_portal': None, 'target_portals': None},
                     {'target_iqn': ''}, {'target_lun': 'x'},
                     {'target_lun': -1},
                     {'auth_method': 'none?'}, {'auth_password': None},
                     {'target_portal': 'nohost'}):
            exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                    self.build(iscsi_info(**data))
                                    .connect_volume)
            self.assertIn('invalid connection_info', str(exc))
        self.assertEqual([], self.srv.reads)
        self.discover.assert_not_called()

    def test_disconnect_removes_hdisk_and_logs_out(self):
        info = iscsi_info()
        self.build(info).connect_volume()
        self.build(info).disconnect_volume()
        self.assertEqual(4, len(self.srv.posts))
        self.assertEqual(2, self.remove.call_count)
        args, kwargs = self.remove.call_args
        self.assertEqual((self.adpt, IQN), args[:2])
        self.assertEqual({'iface_name': 'default', 'lun': 1,
                          'portal': '10.0.0.5:3260', 'multipath': False},
                         kwargs)


class TestFileIO(_Base):

    def test_paths(self):
        for vtype, data, path in (
                ('nfs', {'export': '/mnt/share', 'name': 'volume-1'},
                 '/mnt/share/volume-1'),
                ('local', {'device_path': '/var/vols/v1'}, '/var/vols/v1'),
                ('gpfs', {'device_path': '/gpfs/a//v2'}, '/gpfs/a/v2')):
            vol = self.build({'driver_volume_type': vtype,
                              'data': dict(data, volume_id='vol-1')})
            self.assertIsInstance(vol, fileio.FileIOVolumeAdapter)
            self.assertEqual(path, vol.disk_name())
        for data in ({'device_path': 'rel/path'},
                     {'device_path': '/a/../etc/passwd'},
                     {'export': 'host:/share'}):
            vol = self.build({'driver_volume_type': 'local', 'data': data})
            self.assertRaises(nova_exc.VolumeAttachFailed,
                              vol.connect_volume)
        self.assertEqual([], self.srv.reads)

    def test_connect_maps_file_through_one_vios(self):
        vol = self.build({'driver_volume_type': 'local',
                          'data': {'volume_id': 'vol-1',
                                   'device_path': '/var/vols/v1'}})
        vol.connect_volume()
        self.assertEqual(1, len(self.srv.posts))
        vios_w = self.srv.vios(vol._mapped_on)
        smap = tsk_map.find_maps(vios_w.scsi_mappings, vol.vm_uuid)[-1]
        stg = smap.backing_storage
        self.assertEqual('/var/vols/v1', stg.name)
        self.assertEqual(pvm_stor.VDiskType.FILE, stg.vdtype)
        self.assertEqual(pvm_stor.BackStoreType.FILE_IO, stg.backstore_type)
        vol.disconnect_volume()
        self.assertEqual(2, len(self.srv.posts))
        vios_w = self.srv.vios(vol._mapped_on)
        self.assertEqual([], tsk_map.find_maps(
            vios_w.scsi_mappings, vol.vm_uuid,
            match_func=fileio._matcher('/var/vols/v1')))

    def test_file_detach_and_extend_look_only_at_the_partitions_maps(self):
        # A VIOS holds a mapping per disk of every partition (hundreds).
        vol = self.build({'driver_volume_type': 'local',
                          'data': {'volume_id': 'vol-1',
                                   'device_path': '/var/vols/v1'}})
        vol.connect_volume()
        for call in (vol.extend_volume, vol.disconnect_volume):
            with mock.patch.object(tsk_map, 'find_maps',
                                   wraps=tsk_map.find_maps) as find_maps:
                call()
            handed = [m for c in find_maps.call_args_list
                      for m in c.args[0]]
            self.assertTrue(handed)
            self.assertEqual({vol.vm_uuid.lower()}, {
                m.client_lpar_href.rsplit('/', 1)[-1].lower()
                for m in handed})


class TestRBD(_Base):

    def setUp(self):
        super().setUp()
        self.exists = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.rbd_exists', return_value=True)).mock

    def info(self, name='pool/vol-1'):
        return {'driver_volume_type': 'rbd',
                'data': {'volume_id': 'vol-1', 'name': name,
                         'auth_username': 'cinder'}}

    def test_connect_user_and_check(self):
        self.flags(rbd_user='nova', group='powervm')
        vol = self.build(self.info())
        self.assertIsInstance(vol, rbd.RBDVolumeAdapter)
        vol.connect_volume()
        self.assertEqual('pool/vol-1', self.exists.call_args[0][2])
        vios_w = self.srv.vios(vol._mapped_on)
        stg = tsk_map.find_maps(vios_w.scsi_mappings,
                                vol.vm_uuid)[-1].backing_storage
        self.assertEqual('pool/vol-1', stg.name)
        self.assertEqual(pvm_stor.VDiskType.RBD, stg.vdtype)
        self.assertEqual('nova', stg._get_val_str('RbdUser'))
        self.flags(rbd_user='', group='powervm')
        self.assertEqual('cinder', vol.user())

    def test_missing_image_before_any_post(self):
        self.exists.return_value = False
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.build(self.info()).connect_volume)
        self.assertIn('does not exist', str(exc))
        self.assertEqual(2, self.exists.call_count)
        self.assertEqual([], self.srv.posts)

    def test_bad_name(self):
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.build(self.info('noslash')).connect_volume)
        self.exists.assert_not_called()


class TestNoLiveMigration(test_live_migration.LpmTestCase):
    """iSCSI, file I/O and RBD volumes: live migration refused first."""

    _check = test_live_migration.TestSource._check
    _refused = test_live_migration.TestSource._refused

    def test_each_type_refused(self):
        for vtype, data in (('iscsi', {}), ('nfs', {'export': '/mnt/s',
                                                    'name': 'v'}),
                            ('local', {'device_path': '/v'}),
                            ('gpfs', {'device_path': '/gpfs/v'}),
                            ('rbd', {'name': 'pool/v'})):
            bdm = {'boot_index': 0, 'connection_info': {
                'driver_volume_type': vtype,
                'data': dict(data, volume_id='vol-%s' % vtype)}}
            ex = self._refused(['volume vol-%s' % vtype,
                                'which live migration cannot move'],
                               bdi=test_live_migration._bdi(bdm))
            self.assertIn(volume_dvr.volume_driver_class(
                bdm['connection_info']).vol_type(), str(ex))
