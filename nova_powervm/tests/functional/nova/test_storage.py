"""Snapshots and Cinder volumes through nova's API, on the simulator."""
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional.nova import base
from nova_powervm.virt.powervm import snapshot_cancel


class TestSnapshot(base.PowerVMNovaTestCase):

    def test_create_image(self):
        server = self._boot()
        disk = self._disk_mappings(server)[0][2]
        before = self.sim.inventory()

        image = self._snapshot(server, name='snap1')

        # The image holds the partition's disk: it starts with the bytes
        # the server was booted from, and is as large as the disk.
        with open(self.sim.disk_path(name=disk), 'rb') as src:
            src.seek(0, 2)
            disk_size = src.tell()
        self.assertEqual(disk_size, image['size'])
        self.assertEqual(
            b''.join(pvm_fixtures.pattern_bytes(
                base.IMAGE_SIZE, seed=self.image['name'].encode())),
            self.glance.read_image(image['id'], base.IMAGE_SIZE))
        self.assertEqual('snap1', image['name'])
        self.assertEqual(server['id'],
                         image['properties'].get('instance_uuid'))
        # The disk was mapped to the management partition only while it was
        # read: nothing on the simulator changed.
        self.assertInventoryRestored(before)
        self.assertEqual('running', self._state(server))


class TestVolumes(base.PowerVMNovaTestCase):

    def test_attach_detach_fc_volume(self):
        server = self._boot()
        before = self.sim.inventory()

        vol_id = self._attach_fc_volume(server)
        maps = self._volume_mappings(server)
        self.assertTrue(maps, 'no hdisk mapped to the partition')
        connector = self.cinder.connectors[-1]
        self.assertTrue(connector.get('wwpns'), connector)
        self.assertEqual('ACTIVE', self._show_server(server)['status'])

        self._detach_volume(server, vol_id)
        self.assertEqual([], self._volume_mappings(server))
        self.assertInventoryRestored(before)
        # The boot disk is untouched.
        self.assertEqual(1, len(self._disk_mappings(server)))

    def test_attach_to_unreachable_target_rolls_back(self):
        server = self._boot()
        before = self.sim.inventory()
        for wwpn in self._fc_targets():
            self.sim.set_fc_target_reachable(wwpn, False)
        vol_id = self.cinder.add_fc_volume(self._fc_targets())
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': vol_id}})

        def _failed():
            actions = self.api.get_instance_actions(server['id'])
            return any(a['action'] == 'attach_volume' and
                       a.get('message') == 'Error' for a in actions)
        self._wait_for(_failed, 'the attach to fail')
        self._wait_for(
            lambda: self.cinder.volumes[vol_id]['status'] == 'available',
            'nova to delete the attachment')
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assertEqual([], self.api.get_server_volumes(server['id']))
        self.assertEqual([], self._volume_mappings(server))
        self.assertInventoryRestored(before)

    def test_boot_from_volume(self):
        vol_id = self.cinder.add_fc_volume(self._fc_targets(), lun=7,
                                           bootable=True)
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
        self.assertEqual([], self._disk_mappings(server),
                         'a boot-from-volume server got a local disk')
        self.assertEqual('in-use', self.cinder.volumes[vol_id]['status'])

        self._delete(server)
        self.assertInventoryRestored()


class TestDeleteDuringSnapshot(base.PowerVMNovaTestCase):
    """A server deleted while its snapshot uploads (seen in Tempest).

    The snapshot holds a mapping of the boot LU to the management
    partition; NovaLink refuses to delete a mapped LU (409 "in use").
    """

    POWERVM_FLAGS = {'disk_driver': 'ssp'}

    def _cancelled(self, server):
        """True once destroy has stopped the server's snapshot."""
        snap = snapshot_cancel._RUNNING.get(server['id'])
        if snap is not None and snap.cancelled.is_set():
            return True
        srv = self.api.get_server(server['id'])
        if srv['status'] == 'ERROR':
            self.fail('delete failed: %s' % srv.get('fault'))
        return False

    def test_delete_while_snapshot_uploads(self):
        server = self._boot()
        held, release = self.glance.hold_uploads()
        self.addCleanup(release.set)
        image_id = self.api.post_server_action(
            server['id'], {'createImage': {'name': 'snap1'}})['image_id']
        self._wait_for(held.is_set, 'the upload to start')
        self.assertEqual('saving', self.glance.images[image_id]['status'])

        self.api.delete_server(server['id'])
        self._wait_for(lambda: self._cancelled(server),
                       'destroy to stop the snapshot')
        release.set()
        self._wait_gone(server)

        # nova deleted the unfinished image (it was never active).
        self._wait_for(lambda: image_id not in self.glance.images,
                       'nova to delete the snapshot image')
        # No partition, mapping (the management partition's too), media or
        # instance LU left: only the cached image LU (and its data file).
        after = self.sim.inventory()
        self.assertEqual(self._without_storage(self.start_inventory),
                         dict(self._without_storage(after),
                              ssp=self.start_inventory['ssp']))
        lus = [lu for pool in after['ssp'].values()
               for lu in pool['logical_units']]
        self.assertEqual(['VirtualIO_Image'], [lu[1] for lu in lus], lus)
        log = self.stdlog.logger.output
        self.assertIn('Stopping the snapshot in progress', log)
        # Neither nova nor the driver logged an error.
        self.assertEqual([], [line for line in log.splitlines()
                              if ' ERROR [nova' in line or
                              line.startswith('Traceback')])
