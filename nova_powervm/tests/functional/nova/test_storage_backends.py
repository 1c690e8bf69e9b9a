"""iSCSI, file I/O and RBD Cinder volumes through nova's API.

One class, few tests: each test drives several volume types through one
nova set-up (the set-up costs most of a test's time).
"""
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional.nova import base

IQN = 'iqn.2010-10.org.openstack:volume-nova'
PORTAL = '10.0.0.5:3260'
SECRET = 'nova-chap-secret'
NFS_EXPORT = '/mnt/nfs/share1'
NFS_FILE = NFS_EXPORT + '/volume-nfs1'
LOCAL_FILE = '/var/lib/cinder/volumes/volume-local1'
GPFS_FILE = '/gpfs/cinder/volume-gpfs1'
POOL = 'volumes'


class TestBackends(base.PowerVMNovaTestCase):

    def setUp(self):
        super().setUp()
        self.sim.add_iscsi_target(IQN, [PORTAL], luns={1: 1, 2: 1},
                                  chap_user='cinder', chap_secret=SECRET)
        self.sim.add_rbd_pool(POOL)

    def _iscsi_volume(self, lun, bootable=False, secret=SECRET):
        return self.cinder.add_volume('iscsi', {
            'target_portal': PORTAL, 'target_iqn': IQN, 'target_lun': lun,
            'auth_method': 'CHAP', 'auth_username': 'cinder',
            'auth_password': secret}, bootable=bootable)

    def _file_volume(self, vtype, path, gb=1, bootable=False):
        """A Cinder local/nfs/gpfs volume of the file ``path``.

        ``gb=None``: the file does not exist on the VIOSes.
        """
        if gb:
            self.sim.add_volume_file(path, gb=gb)
        if vtype == 'nfs':
            export, _sep, name = path.rpartition('/')
            data = {'export': export, 'name': name}
        else:
            data = {'device_path': path}
        return self.cinder.add_volume(vtype, data, size=gb or 1,
                                      bootable=bootable)

    def _rbd_volume(self, image, gb=1, bootable=False, pool=POOL):
        if gb:
            self.sim.add_rbd_image(pool, image, gb=gb)
        return self.cinder.add_volume(
            'rbd', {'name': '%s/%s' % (pool, image),
                    'auth_username': 'cinder'}, size=gb or 1,
            bootable=bootable)

    def _attach(self, server, vol_id):
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': vol_id}})

        def _attached():
            self._assert_action_ok(server, 'attach_volume')
            return self.cinder.volumes[vol_id]['status'] == 'in-use'
        self._wait_for(_attached, 'volume %s to be attached' % vol_id)

    def _events(self, server, act):
        return self.api.api_get('/servers/%s/os-instance-actions/%s' % (
            server['id'], act['request_id'])).body['instanceAction']['events']

    def _attach_fails(self, server, vol_id):
        """Attach through the API, which fails: nova's error details."""
        seen = {a['request_id'] for a in
                self.api.get_instance_actions(server['id'])}
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': vol_id}})

        def _failed():
            for act in self.api.get_instance_actions(server['id']):
                if (act['request_id'] not in seen and
                        act['action'] == 'attach_volume' and
                        act.get('message') == 'Error'):
                    return '\n'.join(
                        '%s\n%s' % (e.get('details'), e.get('traceback'))
                        for e in self._events(server, act))
            return None
        error = self._wait_for(_failed, 'the attach of %s to fail' % vol_id)
        self._wait_for(
            lambda: self.cinder.volumes[vol_id]['status'] == 'available',
            'nova to delete the attachment of %s' % vol_id)
        return error

    def _extend(self, server, vol_id, gb):
        """Cinder grew the volume: its volume-extended event to nova."""
        self.cinder.volumes[vol_id]['size'] = gb
        self.api.create_server_external_events([{
            'name': 'volume-extended', 'server_uuid': server['id'],
            'tag': vol_id}])

        def _done():
            for act in self.api.get_instance_actions(server['id']):
                if act['action'] != 'extend_volume':
                    continue
                events = self._events(server, act)
                results = [e.get('result') for e in events]
                self.assertNotIn('Error', results, events)
                if results and None not in results:
                    return True
            return False
        self._wait_for(_done, 'the extend of %s' % vol_id)

    def _names(self, server):
        return sorted(m[2] for m in self._scsi_mappings(server))

    def _capacity(self, server, name):
        """DiskCapacity (GB) of the mapped virtual disk ``name``."""
        for _vios, stg in self._vscsi_mappings_to(self._lpar_id(server)):
            if stg is not None and xu.text(stg, 'DiskName') == name:
                return float(xu.text(stg, 'DiskCapacity'))
        self.fail('%s is not mapped to %s' % (name, server['id']))

    def _boot_from(self, vol_id):
        body = self._build_server(image_uuid='', flavor_id=self.flavor,
                                  networks='none')
        body.pop('imageRef', None)
        body['block_device_mapping_v2'] = [{
            'source_type': 'volume', 'destination_type': 'volume',
            'boot_index': 0, 'uuid': vol_id}]
        return self.api.post_server({'server': body})

    def test_attach_extend_detach_each_type(self):
        server = self._boot()
        iscsi_vol = self._iscsi_volume(1)
        nfs_vol = self._file_volume('nfs', NFS_FILE, gb=2)
        local_vol = self._file_volume('local', LOCAL_FILE)
        gpfs_vol = self._file_volume('gpfs', GPFS_FILE)
        rbd_vol = self._rbd_volume('volume-rbd1')
        before_names = self._names(server)
        before = self.sim.inventory()
        vols = [iscsi_vol, nfs_vol, local_vol, gpfs_vol, rbd_vol]
        for vol_id in vols:
            self._attach(server, vol_id)
        self.assertTrue(self.cinder.connectors[-1].get('initiator'))
        names = self._names(server)
        for name in (NFS_FILE, LOCAL_FILE, GPFS_FILE, POOL + '/volume-rbd1'):
            # File and RBD disks: through one VIOS.
            self.assertEqual(1, names.count(name), names)
        self.assertEqual(len(before_names) + 2 + 4, len(names))   # 2 VIOS
        self.assertTrue(self.sim.inventory()['iscsi_sessions']['vios1'])

        # Extend: the file / image grows, the VIOS serves the new size.
        self.sim.resize_volume_file(NFS_FILE, 3)
        self._extend(server, nfs_vol, 3)
        self.assertEqual(3, self._capacity(server, NFS_FILE))
        self.sim.resize_rbd_image(POOL, 'volume-rbd1', 2)
        self._extend(server, rbd_vol, 2)
        self.assertEqual(2, self._capacity(server, POOL + '/volume-rbd1'))

        for vol_id in vols:
            self._detach_volume(server, vol_id)
        self.assertEqual(before_names, self._names(server))
        # Nothing mapped, no session; the files and images stay (Cinder's),
        # with the sizes they grew to.
        after = self.sim.inventory()
        self.assertEqual({'files': {NFS_FILE: 3.0, LOCAL_FILE: 1.0,
                                    GPFS_FILE: 1.0},
                          'rbd': {POOL + '/volume-rbd1': 2.0}},
                         after['backed_disks'])
        after['backed_disks'] = before['backed_disks']
        self.assertEqual(self._comparable(before), self._comparable(after))

    def test_boot_from_iscsi_nfs_and_rbd_volumes(self):
        vols = {'iscsi': self._iscsi_volume(2, bootable=True),
                'nfs': self._file_volume('nfs', NFS_FILE, bootable=True),
                'rbd': self._rbd_volume('boot1', bootable=True)}
        before = self.sim.inventory()
        servers = {}
        for vtype, vol_id in vols.items():
            # One at a time: three spawns at once outlast a wait when the
            # machine is loaded.
            server = servers[vtype] = self._wait_for_status(
                self._boot_from(vol_id), 'ACTIVE')
            self.assertEqual('running', self._state(server))
            self.assertEqual('in-use',
                             self.cinder.volumes[vols[vtype]]['status'])
        self.assertEqual(2, len(self._volume_mappings(servers['iscsi'])))
        # No local disk besides the boot volume.
        self.assertEqual([NFS_FILE], self._names(servers['nfs']))
        self.assertEqual([POOL + '/boot1'], self._names(servers['rbd']))
        for server in servers.values():
            self._delete(server)
        self.assertEqual({'vios1': [], 'vios2': []},
                         self.sim.inventory()['iscsi_sessions'])
        self.assertInventoryRestored(before)

    def test_bad_input_leaves_nothing(self):
        server = self._boot()
        before = self.sim.inventory()
        self.sim.set_iscsi_portal_reachable(PORTAL, False)
        cases = [
            (self._file_volume('gpfs', GPFS_FILE, gb=None),
             'File %s does not exist' % GPFS_FILE),
            (self._rbd_volume('img', gb=None, pool='nopool'),
             'RBD image nopool/img (or its pool) does not exist'),
            (self._iscsi_volume(1), 'target portal is unreachable'),
        ]
        for vol_id, wanted in cases:
            self.assertIn(wanted, self._attach_fails(server, vol_id))
            self.assertInventoryRestored(before)
        self.sim.set_iscsi_portal_reachable(PORTAL, True)
        error = self._attach_fails(server, self._iscsi_volume(
            1, secret='not-the-secret'))
        self.assertIn('CHAP authentication failed', error)
        self.assertNotIn('not-the-secret', error)
        self.assertNotIn('not-the-secret', self.stdlog.logger.output)
        # Nothing mapped, no VIOS logged in; the server runs on.
        self.assertInventoryRestored(before)
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assertEqual([], self.api.get_server_volumes(server['id']))
