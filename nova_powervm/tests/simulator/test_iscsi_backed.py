"""Simulator iSCSI, file-backed and RBD disks through pypowervm."""
import os

from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.simulator import test_fc

IQN = 'iqn.2010-10.org.openstack:volume-1'
PORTAL = '10.0.0.5:3260'
PORTAL2 = '10.0.0.6:3260'


class TestIscsi(test_fc.FCTestCase):

    def setUp(self):
        super().setUp()
        self.sim.add_iscsi_target(IQN, [PORTAL, PORTAL2], luns={1: 2},
                                  chap_user='u', chap_secret='s3cret')
        self.vios = self.sim.vios_uuids[0]

    def login(self, portal=PORTAL, password='s3cret', **kw):
        return tsk_hdisk.discover_iscsi(
            self.adpt, portal, 'u', password, IQN, self.vios, lunid=1,
            auth='CHAP', iface_name='default', **kw)

    def test_initiator(self):
        name = tsk_hdisk.discover_iscsi_initiator(self.adpt, self.vios)
        self.assertTrue(name.startswith('iqn.1986-03.com.ibm:'))

    def test_login_map_remove(self):
        name, udid = self.login()
        self.assertTrue(name.startswith('hdisk'))
        self.assertEqual(['%s@%s' % (IQN, PORTAL)],
                         self.sim.inventory()['iscsi_sessions']['vios1'])
        # Again: the session exists, same device (the rescan).
        self.assertEqual((name, udid), self.login())
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=self.vios,
                                   xag=test_fc.XAGS)
        pv = [p for p in vios_w.phys_vols if p.udid == udid][0]
        self.assertEqual(2048, pv.capacity)
        lpar = self.lpar()
        tsk_map.add_vscsi_mapping(None, vios_w, lpar.uuid,
                                  pvm_stg.PV.bld(self.adpt, name, udid=udid))
        self.assertRaises(pvm_exc.Error, tsk_hdisk.remove_iscsi,
                          self.adpt, IQN, self.vios, lun=1, portal=PORTAL)
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=self.vios,
                                   xag=test_fc.XAGS)
        tsk_map.remove_maps(vios_w, lpar.uuid)
        vios_w.update()
        tsk_hdisk.remove_iscsi(self.adpt, IQN, self.vios, lun=1,
                               portal=PORTAL)
        self.assertEqual([], self.sim.inventory()['iscsi_sessions']['vios1'])
        # Nothing left: "no objects" is a good remove status too.
        tsk_hdisk.remove_iscsi(self.adpt, IQN, self.vios, lun=1)

    def test_bad_chap_unreachable_unknown(self):
        exc = self.assertRaises(pvm_exc.ISCSIDiscoveryFailed, self.login,
                                password='wrong')
        self.assertIn('24', str(exc))
        self.sim.set_iscsi_portal_reachable(PORTAL, False)
        exc = self.assertRaises(pvm_exc.ISCSIDiscoveryFailed, self.login)
        self.assertIn('8', str(exc))
        exc = self.assertRaises(pvm_exc.ISCSIDiscoveryFailed, self.login,
                                portal='10.9.9.9:3260')
        self.assertIn('21', str(exc))
        self.assertEqual([], self.sim.inventory()['iscsi_sessions']['vios1'])

    def test_multipath_one_path_down(self):
        self.sim.set_iscsi_portal_reachable(PORTAL, False)
        name, udid = tsk_hdisk.discover_iscsi(
            self.adpt, [PORTAL, PORTAL2], 'u', 's3cret', [IQN, IQN],
            self.vios, lunid=[1, 1], auth='CHAP', multipath=True)
        self.assertTrue(name)
        self.assertEqual(['%s@%s' % (IQN, PORTAL2)],
                         self.sim.inventory()['iscsi_sessions']['vios1'])

    def test_missing_lun_keeps_session_until_remove(self):
        self.assertRaises(pvm_exc.ISCSIDiscoveryFailed,
                          tsk_hdisk.discover_iscsi, self.adpt, PORTAL, 'u',
                          's3cret', IQN, self.vios, lunid=7, auth='CHAP')
        self.assertEqual(1, len(
            self.sim.inventory()['iscsi_sessions']['vios1']))
        tsk_hdisk.remove_iscsi(self.adpt, IQN, self.vios, lun=7,
                               portal=PORTAL)
        self.assertEqual([], self.sim.inventory()['iscsi_sessions']['vios1'])


class TestBacked(test_fc.FCTestCase):

    _lpar = None

    def map(self, stg_el):
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=self.sim.vios_uuids[0],
                                   xag=test_fc.XAGS)
        lpar = self._lpar = self._lpar or self.lpar()
        tsk_map.add_vscsi_mapping(None, vios_w, lpar.uuid, stg_el)
        return pvm_vios.VIOS.get(self.adpt, uuid=vios_w.uuid,
                                 xag=test_fc.XAGS), lpar

    def test_file(self):
        fio = pvm_stg.FileIO.bld_ref(
            self.adpt, '/mnt/nfs/volume-1',
            backstore_type=pvm_stg.BackStoreType.FILE_IO)
        exc = self.assertRaises(pvm_exc.HttpError, self.map, fio)
        self.assertEqual(400, exc.response.status)
        self.assertIn('/mnt/nfs/volume-1 does not exist', str(
            exc.response.body))
        self.sim.add_volume_file('/mnt/nfs/volume-1', gb=3)
        with open(self.sim.volume_file_path('/mnt/nfs/volume-1'),
                  'r+b') as f:
            f.write(b'data')
        vios_w, lpar = self.map(fio)
        smap = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)[0]
        self.assertEqual('/mnt/nfs/volume-1', smap.backing_storage.name)
        self.assertEqual(3, smap.backing_storage.capacity)
        self.sim.resize_volume_file('/mnt/nfs/volume-1', 5)
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=vios_w.uuid,
                                   xag=test_fc.XAGS)
        smap = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)[0]
        self.assertEqual(5, smap.backing_storage.capacity)
        with open(self.sim.volume_file_path('/mnt/nfs/volume-1'),
                  'rb') as f:
            self.assertEqual(b'data', f.read(4))

    def test_rbd(self):
        vios = self.sim.vios_uuids[0]
        rbd = pvm_stg.RBD.bld_ref(self.adpt, 'pool1/vol-1', user='cinder')
        self.assertFalse(tsk_hdisk.rbd_exists(self.adpt, vios,
                                              'pool1/vol-1'))
        exc = self.assertRaises(pvm_exc.HttpError, self.map, rbd)
        self.assertIn('RBD pool pool1 does not exist',
                      str(exc.response.body))
        self.sim.add_rbd_pool('pool1', user='cinder')
        exc = self.assertRaises(pvm_exc.HttpError, self.map, rbd)
        self.assertIn('RBD image vol-1 does not exist',
                      str(exc.response.body))
        self.sim.add_rbd_image('pool1', 'vol-1', gb=2)
        self.assertTrue(tsk_hdisk.rbd_exists(self.adpt, vios,
                                             'pool1/vol-1'))
        vios_w, lpar = self.map(rbd)
        smap = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)[0]
        self.assertEqual('pool1/vol-1', smap.backing_storage.name)
        self.assertEqual('RBD', smap.backing_storage.vdtype)
        self.assertEqual(2, smap.backing_storage.capacity)
        # Cinder's extend: the mapped disk shows the new size, the
        # contents grow (zeros after the old end).
        self.sim.resize_rbd_image('pool1', 'vol-1', 4)
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=vios_w.uuid,
                                   xag=test_fc.XAGS)
        smap = tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)[0]
        self.assertEqual(4, smap.backing_storage.capacity)
        self.assertEqual(4 * 1024 ** 3, os.path.getsize(
            self.sim.rbd_image_path('pool1', 'vol-1')))

    def test_rbd_wrong_user(self):
        self.sim.add_rbd_pool('pool1', user='cinder')
        self.sim.add_rbd_image('pool1', 'vol-1')
        exc = self.assertRaises(pvm_exc.HttpError, self.map,
                                pvm_stg.RBD.bld_ref(self.adpt, 'pool1/vol-1',
                                                    user='admin'))
        self.assertIn('may not access', str(exc.response.body))
