"""iSCSI, file I/O and RBD Cinder volumes against the REST simulator.

Real pypowervm over HTTP; the simulator's state (SCSI mappings, hdisks,
iSCSI sessions) is read back after each attach, detach and failed attach.
"""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm.tests.functional import test_volumes as tv
from nova_powervm.virt.powervm import driver as pvm_driver
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm.volume import iscsi
from nova_powervm.virt.powervm.volume import vscsi

IQN = 'iqn.2010-10.org.openstack:volume-a'
PORTALS = ['10.0.0.5:3260', '10.0.0.6:3260']
SECRET = 'chap-s3cret-value'


def iscsi_info(vol_id='vol-a', lun=1, password=SECRET, portals=PORTALS):
    return {'driver_volume_type': 'iscsi', 'serial': vol_id,
            'data': {'volume_id': vol_id, 'target_portal': portals[0],
                     'target_iqn': IQN, 'target_lun': lun,
                     'target_portals': list(portals),
                     'target_iqns': [IQN] * len(portals),
                     'target_luns': [lun] * len(portals),
                     'auth_method': 'CHAP', 'auth_username': 'cinder',
                     'auth_password': password}}


def file_info(vtype='nfs', vol_id='vol-f'):
    data = {'volume_id': vol_id}
    if vtype == 'nfs':
        data.update(export='/mnt/nfs/share1', name='volume-%s' % vol_id)
    else:
        data['device_path'] = '/gpfs/volumes/volume-%s' % vol_id
    return {'driver_volume_type': vtype, 'serial': vol_id, 'data': data}


def rbd_info(vol_id='vol-r', name='volumes/volume-r'):
    return {'driver_volume_type': 'rbd', 'serial': vol_id,
            'data': {'volume_id': vol_id, 'name': name,
                     'auth_username': 'cinder'}}


class _DriverBase(tv.VolumeSimTestBase):

    def setUp(self):
        super().setUp()
        iscsi._INITIATOR_CACHE.clear()
        self.drv = pvm_driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = self.adapter
        self.drv.host_uuid = self.host_uuid
        self.drv.host_wrapper = self.host_w
        self.inst = self.make_vm(1)

    def vdisk_maps(self, inst):
        """{vios_uuid: [names of virtual disks mapped to the instance]}."""
        vm_uuid = ids.pvm_uuid(inst)
        res = {}
        for vios_w in self.vioses():
            names = [m.backing_storage.name for m in tsk_map.find_maps(
                vios_w.scsi_mappings, vm_uuid,
                match_func=lambda s: s.schema_type == pvm_stor.DISK_ROOT)]
            if names:
                res[vios_w.uuid] = names
        return res

    def first_vios(self):
        """The VIOS file and RBD disks map through (lowest ID)."""
        return min(self.vioses(), key=lambda v: v.id).uuid

    def sessions(self):
        return {k: v for k, v in
                self.sim.inventory()['iscsi_sessions'].items() if v}


class TestIscsi(_DriverBase):

    def setUp(self):
        super().setUp()
        self.sim.add_iscsi_target(IQN, PORTALS, luns={1: 2, 2: 1},
                                  chap_user='cinder', chap_secret=SECRET)

    def test_connector_initiator(self):
        conn = self.drv.get_volume_connector(self.inst)
        self.assertTrue(conn['initiator'].startswith('iqn.1986-03.com.ibm:'))
        self.assertTrue(conn['wwpns'])

    def test_attach_detach_multipath(self):
        self.flags(volume_use_multipath=True, group='powervm')
        info = iscsi_info()
        log = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        self.drv.attach_volume(None, info, self.inst, '/dev/sdb')
        udid = info['data'][vscsi.UDID_KEY]
        self.assertEqual(sorted(self.sim.vios_uuids),
                         sorted(self.pv_maps(self.inst)))
        self.assertEqual(2, len(self.hdisks(udid)))
        self.assertEqual(
            {v: ['%s@%s' % (IQN, p) for p in PORTALS]
             for v in ('vios1', 'vios2')}, self.sessions())
        # A second LUN of the same target shares the sessions.
        info2 = iscsi_info('vol-b', lun=2)
        self.drv.attach_volume(None, info2, self.inst, '/dev/sdc')
        self.drv.detach_volume(None, info, self.inst, '/dev/sdb')
        self.assertEqual({}, self.hdisks(udid))
        self.assertEqual(2, len(self.sessions()))
        self.drv.detach_volume(None, info2, self.inst, '/dev/sdc')
        self.assertEqual({}, self.pv_maps(self.inst))
        self.assertEqual({}, self.sessions())
        self.assertNotIn(SECRET, log.output)

    def test_extend(self):
        info = iscsi_info()
        self.drv.attach_volume(None, info, self.inst, '/dev/sdb')
        self.sim.resize_iscsi_lun(IQN, 1, 5)
        self.drv.extend_volume(None, info, self.inst, 5 * 1024 ** 3)
        udid = info['data'][vscsi.UDID_KEY]
        caps = {pv.capacity for v in self.vioses() for pv in v.phys_vols
                if pv.udid == udid}
        self.assertEqual({5120}, caps)

    def test_bad_chap_leaves_nothing(self):
        log = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        before = self.sim.inventory()
        exc = self.assertRaises(
            nova_exc.VolumeAttachFailed, self.drv.attach_volume, None,
            iscsi_info(password='wrong-secret'), self.inst, '/dev/sdb')
        self.assertIn('CHAP authentication failed', str(exc))
        self.assertNotIn('wrong-secret', str(exc))
        self.assertNotIn('wrong-secret', log.output)
        self.assertEqual(before, self.sim.inventory())

    def test_unreachable_portal_and_missing_lun(self):
        before = self.sim.inventory()
        self.sim.set_iscsi_portal_reachable(PORTALS[0], False)
        exc = self.assertRaises(
            nova_exc.VolumeAttachFailed, self.drv.attach_volume, None,
            iscsi_info(), self.inst, '/dev/sdb')
        self.assertIn('unreachable', str(exc))
        self.assertEqual(before, self.sim.inventory())
        self.sim.set_iscsi_portal_reachable(PORTALS[0], True)
        # The target logs in but has no LUN 9: logged out again.
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.drv.attach_volume, None, iscsi_info(lun=9),
                          self.inst, '/dev/sdb')
        self.assertEqual({}, self.sessions())
        self.assertEqual({}, self.pv_maps(self.inst))

    def test_bad_connection_info(self):
        info = iscsi_info()
        info['data']['auth_method'] = 'kerberos'
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None, info,
                                self.inst, '/dev/sdb')
        self.assertIn('not CHAP', str(exc))
        self.assertEqual([], [r for r in self.sim.request_log()
                              if 'ISCSI' in r['path']])


class TestFileIO(_DriverBase):

    def test_nfs_attach_extend_detach(self):
        path = '/mnt/nfs/share1/volume-vol-f'
        self.sim.add_volume_file(path, gb=2)
        info = file_info()
        self.drv.attach_volume(None, info, self.inst, '/dev/sdb')
        maps = self.vdisk_maps(self.inst)
        self.assertEqual({self.first_vios(): [path]}, maps)
        self.sim.resize_volume_file(path, 4)
        self.drv.extend_volume(None, info, self.inst, 4 * 1024 ** 3)
        self.drv.detach_volume(None, info, self.inst, '/dev/sdb')
        self.assertEqual({}, self.vdisk_maps(self.inst))
        # The file and its contents stay (Cinder owns them).
        self.assertIn(path, self.sim.inventory()['backed_disks']['files'])

    def test_missing_file(self):
        before = self.sim.inventory()
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None,
                                file_info('gpfs'), self.inst, '/dev/sdb')
        self.assertIn('does not exist', str(exc))
        self.assertEqual(before, self.sim.inventory())

    def test_relative_path_refused_first(self):
        info = file_info('local')
        info['data']['device_path'] = 'volumes/../etc'
        self.sim.clear_request_log()
        self.assertRaises(nova_exc.VolumeAttachFailed,
                          self.drv.attach_volume, None, info, self.inst,
                          '/dev/sdb')
        self.assertEqual([], self.sim.request_log())


class TestRBD(_DriverBase):

    def test_attach_detach(self):
        self.flags(rbd_user='nova', group='powervm')
        self.sim.add_rbd_pool('volumes', user='nova')
        self.sim.add_rbd_image('volumes', 'volume-r', gb=1)
        info = rbd_info()
        self.drv.attach_volume(None, info, self.inst, '/dev/sdb')
        self.assertEqual({self.first_vios():
                          ['volumes/volume-r']}, self.vdisk_maps(self.inst))
        self.drv.detach_volume(None, info, self.inst, '/dev/sdb')
        self.assertEqual({}, self.vdisk_maps(self.inst))

    def test_missing_pool_refused_before_mapping(self):
        before = self.sim.inventory()
        self.sim.clear_request_log()
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None, rbd_info(),
                                self.inst, '/dev/sdb')
        self.assertIn('does not exist on any active', str(exc))
        self.assertEqual([], [r for r in self.sim.request_log()
                              if r['method'] == 'POST'])
        self.assertEqual(before, self.sim.inventory())
