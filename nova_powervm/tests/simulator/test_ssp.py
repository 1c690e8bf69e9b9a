"""Simulator shared storage pool through pypowervm."""
import io

from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import cluster_ssp as tsk_cs
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import cluster as pvm_clust
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.simulator import base


class TestSSP(base.SimTestCase):

    def setUp(self):
        super(TestSSP, self).setUp()
        self.cluster = pvm_clust.Cluster.get(self.adpt)[0]
        self.tier = pvm_stg.Tier.search(
            self.adpt, parent_type=pvm_stg.SSP,
            parent_uuid=self.cluster.ssp_uuid, is_default=True,
            one_result=True)

    def ssp(self):
        return pvm_stg.SSP.get(self.adpt, uuid=self.cluster.ssp_uuid)

    def upload_image(self, data, name='image_1'):
        return tsk_cs.get_or_upload_image_lu(
            self.tier, name, self.sim.vios_uuids[0], io.BytesIO(data),
            len(data), upload_type=tsk_stg.UploadType.IO_STREAM)

    def test_seed(self):
        self.assertEqual('simcluster', self.cluster.name)
        self.assertEqual(sorted(self.sim.vios_uuids),
                         sorted(n.vios_uuid for n in self.cluster.nodes))
        self.assertEqual('SYSTEM', self.tier.name)
        ssp = self.ssp()
        self.assertEqual(1000, ssp.capacity)
        self.assertEqual(1000, ssp.free_space)

    def test_image_clone_map_delete(self):
        before = self.sim.inventory()
        data = b'\x01\x02pvm' * 50000
        img = self.upload_image(data)
        self.assertEqual(pvm_stg.LUType.IMAGE, img.lu_type)
        # The marker LU is gone, the upload metadata too.
        self.assertEqual(['image_1'], [lu.name for lu in self.ssp()
                                       .logical_units])
        self.assertEqual({}, self.sim.inventory()['files'])
        free = self.ssp().free_space
        _tier, clone = tsk_stg.crt_lu(self.tier, 'boot_1', 5,
                                      typ=pvm_stg.LUType.DISK, clone=img)
        self.assertEqual(img.udid[2:], clone.cloned_from_udid[2:])
        self.assertEqual(free, self.ssp().free_space)   # thin clone
        with open(self.sim.disk_path(name='boot_1'), 'rb') as f:
            self.assertEqual(data, f.read())
        # Mapped through a VIOS: cannot be deleted.
        vios_w = pvm_vios.VIOS.get(self.adpt, uuid=self.sim.vios_uuids[0],
                                   xag=['ViosSCSIMapping'])
        ref = pvm_stg.LU.bld_ref(self.adpt, clone.name, clone.udid)
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, self.sim.mgmt_uuid, ref))
        vios_w = vios_w.update()
        self.assertRaises(pvm_exc.HttpError, clone.delete)
        # The image has a clone: cannot be deleted either.
        self.assertRaises(pvm_exc.HttpError, img.delete)
        tsk_map.remove_maps(vios_w, self.sim.mgmt_uuid)
        vios_w.update()
        # Removing the last clone removes the unused image too.
        tsk_stg.rm_tier_storage([clone], tier=self.tier)
        self.assertEqual(before, self.sim.inventory())

    def test_rm_ssp_storage(self):
        img = self.upload_image(b'abc')
        _tier, clone = tsk_stg.crt_lu(self.tier, 'boot_2', 1,
                                      typ=pvm_stg.LUType.DISK, clone=img)
        ssp = tsk_stg.rm_ssp_storage(self.ssp(), [clone])
        self.assertEqual([], [lu.name for lu in ssp.logical_units])
        self.assertEqual([], self.sim.inventory()['ssp']['simssp'][
            'logical_units'])

    def test_bad_lus_rejected(self):
        before = self.sim.inventory()
        for name, size, kw in (('big', 5000, {}), ('', 1, {}),
                               ('x' * 80, 1, {})):
            self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_lu, self.tier,
                              name, size, **kw)
        fake = pvm_stg.LU.bld_ref(self.adpt, 'nope', '29' + 'ab' * 32)
        fake._capacity(1)
        self.assertRaises(pvm_exc.HttpError, tsk_stg.crt_lu, self.tier,
                          'clone', 1, clone=fake)
        self.assertEqual(before, self.sim.inventory())

    def test_capacity(self):
        tsk_stg.crt_lu(self.tier, 'thick', 100, thin=False,
                       typ=pvm_stg.LUType.DISK)
        self.assertEqual(900, self.ssp().free_space)
