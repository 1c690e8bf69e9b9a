"""Disks mapped to the management partition appear in --mgmt-disk-dir."""
import os

import fixtures
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm.simulator import storage_scsi_mgmt as mgmt_disks
from nova_powervm.tests.simulator import test_storage


class TestMgmtDiskLinks(test_storage.StorageTestCase):

    def setUp(self):
        self.dir = self.useFixture(fixtures.TempDir()).join('by-id')
        self.sim_kwargs = dict(self.sim_kwargs, mgmt_disk_dir=self.dir)
        super().setUp()

    def links(self):
        return {n: os.readlink(os.path.join(self.dir, n))
                for n in os.listdir(self.dir)}

    def test_link_follows_mgmt_mapping(self):
        mgmt = self.sim.mgmt_uuid
        lpar = self.lpar()
        d1 = tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                               'd1', 1)
        self.sim.add_volume_file('/mnt/nfs/vol', gb=2)
        fio = pvm_stg.FileIO.bld_ref(
            self.adpt, '/mnt/nfs/vol',
            backstore_type=pvm_stg.BackStoreType.FILE_IO)
        with open(self.sim.disk_path('d1'), 'r+b') as f:
            f.write(b'boot')
        # Another partition's mapping shows nothing.
        vios_w = self.vios()
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, d1))
        vios_w = vios_w.update()
        self.assertEqual({}, self.links())
        for stg in (d1, fio):
            tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
                None, vios_w, mgmt, stg))
        vios_w = vios_w.update()
        udids = {m.backing_storage.name: m.backing_storage.udid
                 for m in tsk_map.find_maps(vios_w.scsi_mappings, mgmt)}
        self.assertEqual({
            mgmt_disks.PREFIX + udids['d1']: self.sim.disk_path('d1'),
            mgmt_disks.PREFIX + udids['/mnt/nfs/vol']:
                self.sim.volume_file_path('/mnt/nfs/vol')}, self.links())
        link = os.path.join(self.dir, mgmt_disks.PREFIX + udids['d1'])
        with open(link, 'rb') as f:
            self.assertEqual(b'boot', f.read(4))
        self.assertEqual(1024 ** 3, os.path.getsize(link))
        # Unmapping from the management partition removes its link only.
        tsk_map.remove_maps(vios_w, mgmt, match_func=lambda s: s.name == 'd1')
        vios_w = vios_w.update()
        self.assertEqual([mgmt_disks.PREFIX + udids['/mnt/nfs/vol']],
                         list(self.links()))
        # A reset (as close) leaves no link behind.
        self.sim.reset()
        self.assertEqual({}, self.links())
