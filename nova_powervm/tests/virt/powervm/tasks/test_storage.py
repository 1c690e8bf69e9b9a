"""Unit tests for the disk tasks: what they ask of the disk driver."""
from unittest import mock

from nova import exception as nova_exc
from nova import test
from pypowervm import exceptions as pvm_exc
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf
from taskflow import task as tf_task

from nova_powervm.virt.powervm.tasks import storage as tf_stg


class Fail(tf_task.Task):
    def execute(self):
        raise ValueError('boom')


class TestStorageTasks(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.dvr = mock.Mock()
        self.inst = mock.Mock()
        self.ftsk = mock.Mock()

    def _run(self, *tasks, store=None):
        flow = tf_lf.Flow('test')
        flow.add(*tasks)
        return tf_eng.run(flow, store=store or {})

    def test_create_attach(self):
        disk = self.dvr.create_disk_from_image.return_value
        res = self._run(
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta'),
            tf_stg.AttachDisk(self.dvr, self.inst, self.ftsk))
        self.assertIs(disk, res['disk_dev_info'])
        self.dvr.create_disk_from_image.assert_called_once_with(
            'ctx', self.inst, 'meta', disk_type='boot')
        self.dvr.attach_disk.assert_called_once_with(self.inst, disk,
                                                     self.ftsk)
        self.dvr.delete_disks.assert_not_called()

    def test_revert_detaches_and_deletes(self):
        disk = self.dvr.create_disk_from_image.return_value
        self.assertRaises(
            ValueError, self._run,
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta'),
            tf_stg.AttachDisk(self.dvr, self.inst, self.ftsk), Fail())
        self.dvr.detach_disk.assert_called_once_with(self.inst,
                                                     disk_types=('boot',))
        self.dvr.delete_disks.assert_called_once_with([disk])

    def test_rescue_disk_revert_detaches_only_it(self):
        disk = self.dvr.create_disk_from_image.return_value
        self.assertRaises(
            ValueError, self._run,
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta',
                                    disk_type='rescue'),
            tf_stg.AttachDisk(self.dvr, self.inst, self.ftsk,
                              disk_type='rescue'), Fail())
        self.dvr.create_disk_from_image.assert_called_once_with(
            'ctx', self.inst, 'meta', disk_type='rescue')
        self.dvr.detach_disk.assert_called_once_with(self.inst,
                                                     disk_types=('rescue',))
        self.dvr.delete_disks.assert_called_once_with([disk])

    def test_detach_remaps_on_revert(self):
        self.dvr.detach_disk.return_value = [mock.Mock()]
        self.assertRaises(
            ValueError, self._run,
            tf_stg.DetachDisk(self.dvr, self.inst, disk_types=('rescue',),
                              remap_on_revert=True), Fail())
        self.dvr.detach_disk.assert_called_once_with(
            self.inst, disk_types=('rescue',), with_mgmt=False)
        self.dvr.map_disks.assert_called_once_with(
            self.inst, self.dvr.detach_disk.return_value)

    def test_partly_failed_detach_remaps_what_is_found(self):
        self.dvr.detach_disk.side_effect = ValueError('vios2 down')
        disk = mock.Mock()
        self.dvr.find_disks.return_value = [disk]
        self.assertRaises(
            ValueError, self._run,
            tf_stg.DetachDisk(self.dvr, self.inst, disk_types=('rescue',),
                              remap_on_revert=True))
        self.dvr.find_disks.assert_called_once_with(self.inst, ('rescue',))
        self.dvr.map_disks.assert_called_once_with(self.inst, [disk])

    def test_delete_confirmed_gone_after_lost_answer(self):
        self.dvr.delete_disks.side_effect = pvm_exc.ConnectionError('lost')
        self.dvr.boot_disks.return_value = []
        self._run(tf_stg.DeleteDisk(self.dvr, confirm=(self.inst,
                                                       ('rescue',))),
                  store={'stor_adpt_mappings': ['d']})
        self.dvr.boot_disks.assert_called_once_with(
            self.inst, disk_types=('rescue',))
        # Still there, or no confirmation asked: the failure stands.
        self.dvr.boot_disks.return_value = ['d']
        self.assertRaises(
            pvm_exc.ConnectionError, self._run,
            tf_stg.DeleteDisk(self.dvr, confirm=(self.inst, ('rescue',))),
            store={'stor_adpt_mappings': ['d']})
        self.dvr.boot_disks.reset_mock()
        self.assertRaises(pvm_exc.ConnectionError, self._run,
                          tf_stg.DeleteDisk(self.dvr),
                          store={'stor_adpt_mappings': ['d']})
        self.dvr.boot_disks.assert_not_called()

    def test_detach_no_revert_by_default(self):
        self.dvr.detach_disk.return_value = [mock.Mock()]
        self.assertRaises(ValueError, self._run,
                          tf_stg.DetachDisk(self.dvr, self.inst), Fail())
        self.dvr.map_disks.assert_not_called()

    def test_refused_create_deletes_nothing(self):
        self.dvr.create_disk_from_image.side_effect = (
            nova_exc.ImageUnacceptable(image_id='i', reason='format'))
        self.assertRaises(
            nova_exc.ImageUnacceptable, self._run,
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta'))
        self.dvr.boot_disks.assert_not_called()
        self.dvr.delete_disks.assert_not_called()

    def test_ambiguous_create_deletes_disk_by_name(self):
        # The VG POST's answer was lost: the disk may exist.
        self.dvr.create_disk_from_image.side_effect = (
            pvm_exc.ConnectionError('dropped'))
        disk = mock.Mock()
        self.dvr.boot_disks.return_value = [disk]
        self.assertRaises(
            pvm_exc.ConnectionError, self._run,
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta'))
        self.dvr.boot_disks.assert_called_once_with(
            self.inst, disk_types=('boot',))
        self.dvr.delete_disks.assert_called_once_with([disk])

    def test_ambiguous_create_without_disk(self):
        self.dvr.create_disk_from_image.side_effect = (
            pvm_exc.TimeoutError('timed out'))
        self.dvr.boot_disks.return_value = []
        self.assertRaises(
            pvm_exc.TimeoutError, self._run,
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta'))
        self.dvr.delete_disks.assert_not_called()

    def test_revert_errors_do_not_mask_failure(self):
        self.dvr.delete_disks.side_effect = Exception('rest down')
        self.dvr.detach_disk.side_effect = Exception('rest down')
        self.assertRaises(
            ValueError, self._run,
            tf_stg.CreateDiskForImg(self.dvr, 'ctx', self.inst, 'meta'),
            tf_stg.AttachDisk(self.dvr, self.inst, self.ftsk), Fail())
        self.dvr.delete_disks.assert_called_once()

    def test_detach_delete(self):
        self.dvr.detach_disk.return_value = ['d1']
        res = self._run(tf_stg.DetachDisk(self.dvr, self.inst),
                        tf_stg.DeleteDisk(self.dvr))
        self.assertEqual(['d1'], res['stor_adpt_mappings'])
        self.dvr.delete_disks.assert_called_once_with(['d1'])

    def test_extend(self):
        self._run(tf_stg.ExtendDisk(self.dvr, self.inst, 20))
        self.dvr.extend_disk.assert_called_once_with(self.inst, None, 20)
