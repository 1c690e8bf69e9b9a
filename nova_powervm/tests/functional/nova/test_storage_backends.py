"""iSCSI, file I/O and RBD Cinder volumes through nova's API."""
from nova_powervm.tests.functional.nova import base

IQN = 'iqn.2010-10.org.openstack:volume-nova'
PORTAL = '10.0.0.5:3260'
SECRET = 'nova-chap-secret'
NFS_FILE = '/mnt/nfs/share1/volume-nfs1'


class TestBackends(base.PowerVMNovaTestCase):

    def setUp(self):
        super().setUp()
        self.sim.add_iscsi_target(IQN, [PORTAL], luns={1: 1, 2: 1},
                                  chap_user='cinder', chap_secret=SECRET)

    def _iscsi_volume(self, lun, bootable=False):
        return self.cinder.add_volume('iscsi', {
            'target_portal': PORTAL, 'target_iqn': IQN, 'target_lun': lun,
            'auth_method': 'CHAP', 'auth_username': 'cinder',
            'auth_password': SECRET}, bootable=bootable)

    def _attach(self, server, vol_id):
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': vol_id}})

        def _attached():
            self._assert_action_ok(server, 'attach_volume')
            return self.cinder.volumes[vol_id]['status'] == 'in-use'
        self._wait_for(_attached, 'volume %s to be attached' % vol_id)

    def _names(self, server):
        return sorted(m[2] for m in self._scsi_mappings(server))

    def test_attach_detach_each_type(self):
        server = self._boot()
        self.sim.add_volume_file(NFS_FILE)
        self.sim.add_rbd_pool('volumes')
        self.sim.add_rbd_image('volumes', 'volume-rbd1')
        before_names = self._names(server)
        before = self.sim.inventory()
        vols = [self._iscsi_volume(1),
                self.cinder.add_volume('nfs', {'export': '/mnt/nfs/share1',
                                               'name': 'volume-nfs1'}),
                self.cinder.add_volume('rbd', {'name': 'volumes/volume-rbd1',
                                               'auth_username': 'cinder'})]
        for vol_id in vols:
            self._attach(server, vol_id)
        self.assertTrue(self.cinder.connectors[-1].get('initiator'))
        names = self._names(server)
        self.assertIn(NFS_FILE, names)
        self.assertIn('volumes/volume-rbd1', names)
        self.assertEqual(len(before_names) + 2 + 2, len(names))   # 2 VIOS
        self.assertTrue(self.sim.inventory()['iscsi_sessions']['vios1'])
        for vol_id in vols:
            self._detach_volume(server, vol_id)
        self.assertEqual(before_names, self._names(server))
        self.assertInventoryRestored(before)

    def test_boot_from_iscsi_volume(self):
        vol_id = self._iscsi_volume(2, bootable=True)
        body = self._build_server(image_uuid='', flavor_id=self.flavor,
                                  networks='none')
        body.pop('imageRef', None)
        body['block_device_mapping_v2'] = [{
            'source_type': 'volume', 'destination_type': 'volume',
            'boot_index': 0, 'uuid': vol_id}]
        server = self._wait_for_status(
            self.api.post_server({'server': body}), 'ACTIVE')
        self.assertEqual('running', self._state(server))
        self.assertTrue(self._volume_mappings(server))
        self.assertEqual('in-use', self.cinder.volumes[vol_id]['status'])
        self._delete(server)
        self.assertEqual({'vios1': [], 'vios2': []},
                         self.sim.inventory()['iscsi_sessions'])
