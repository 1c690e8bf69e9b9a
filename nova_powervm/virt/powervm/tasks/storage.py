"""TaskFlow tasks for the instance's ephemeral (boot) disk.

Thin wrappers over the disk driver (``disk.driver.DiskAdapter``); every
mutating task undoes its work on revert.
"""
from nova import exception as nova_exc
from oslo_log import log as logging
from taskflow.types import failure as task_fail

from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import base as tf_base

LOG = logging.getLogger(__name__)


class CreateDiskForImg(tf_base.Task):
    """Create the boot disk from the image; provides 'disk_dev_info'.

    ``disk_type`` RESCUE creates the rescue disk instead.  Revert deletes
    the disk it created.
    """

    def __init__(self, disk_dvr, context, instance, image_meta,
                 disk_type=disk_dvr.DiskType.BOOT):
        super().__init__(name='create_disk_from_img',
                         provides='disk_dev_info')
        self.disk_dvr = disk_dvr
        self.context = context
        self.instance = instance
        self.image_meta = image_meta
        self.disk_type = disk_type

    def execute(self):
        return self.disk_dvr.create_disk_from_image(
            self.context, self.instance, self.image_meta,
            disk_type=self.disk_type)

    def revert(self, result, flow_failures, **kwargs):
        if isinstance(result, task_fail.Failure):
            if not tf_base.may_have_changed(result):
                return
            # The disk may have been made and the answer lost: look it up
            # by its name (create_disk_from_image cleans up its own partial
            # image upload).
            try:
                disks = self.disk_dvr.boot_disks(
                    self.instance, disk_types=(self.disk_type,))
            except Exception:
                LOG.exception('Could not look for the boot disk of the '
                              'failed create; remove it manually if it '
                              'exists.', instance=self.instance)
                return
        elif result is None:
            return
        else:
            disks = [result]
        if not disks:
            return
        names = ', '.join(str(d.name) for d in disks)
        LOG.warning('Deleting disk %s after a failed operation.', names,
                    instance=self.instance)
        try:
            self.disk_dvr.delete_disks(disks)
        except Exception:
            LOG.exception('Disk %s could not be deleted; remove it '
                          'manually.', names, instance=self.instance)


class FindBootDisk(tf_base.Task):
    """The instance's existing boot disk; provides 'disk_dev_info'.

    Evacuation onto shared storage: the disk is reattached, not recreated.
    Nothing to revert (nothing is changed; the disk is never deleted here).
    :raises DiskNotFound: the disk is not in the shared storage.
    """

    def __init__(self, disk_dvr, instance):
        super().__init__(name='find_boot_disk', provides='disk_dev_info')
        self.disk_dvr = disk_dvr
        self.instance = instance

    def execute(self):
        disks = self.disk_dvr.boot_disks(self.instance)
        if not disks:
            raise nova_exc.DiskNotFound(location=self.disk_dvr.get_disk_name(
                disk_dvr.DiskType.BOOT, self.instance))
        return disks[0]


class AttachDisk(tf_base.Task):
    """Queue the boot disk's mappings on stg_ftsk; requires 'disk_dev_info'.

    Revert removes the mappings of the instance's disk of ``disk_type``.
    """

    def __init__(self, disk_dvr, instance, stg_ftsk,
                 disk_type=disk_dvr.DiskType.BOOT):
        super().__init__(name='attach_disk', requires=['disk_dev_info'])
        self.disk_dvr = disk_dvr
        self.instance = instance
        self.stg_ftsk = stg_ftsk
        self.disk_type = disk_type

    def execute(self, disk_dev_info):
        self.disk_dvr.attach_disk(self.instance, disk_dev_info, self.stg_ftsk)

    def revert(self, disk_dev_info, result, flow_failures, **kwargs):
        LOG.warning('Detaching the %s disk after a failed operation.',
                    self.disk_type, instance=self.instance)
        try:
            self.disk_dvr.detach_disk(self.instance,
                                      disk_types=(self.disk_type,))
        except Exception:
            LOG.exception('Disk mappings could not be removed.',
                          instance=self.instance)


class DetachDisk(tf_base.Task):
    """Remove the disks' mappings; provides 'stor_adpt_mappings'.

    :param disk_types: which of the instance's disks (default: boot).
    :param remap_on_revert: revert maps the removed disks back (unrescue);
        otherwise (destroy) nothing is reverted.
    :param with_mgmt: also the disks' mappings to the management partition
        (destroy: a snapshot's).
    """

    def __init__(self, disk_dvr, instance,
                 disk_types=(disk_dvr.DiskType.BOOT,), remap_on_revert=False,
                 with_mgmt=False):
        super().__init__(name='detach_disk', provides='stor_adpt_mappings')
        self.disk_dvr = disk_dvr
        self.instance = instance
        self.disk_types = disk_types
        self.remap_on_revert = remap_on_revert
        self.with_mgmt = with_mgmt

    def execute(self):
        return self.disk_dvr.detach_disk(self.instance,
                                         disk_types=self.disk_types,
                                         with_mgmt=self.with_mgmt)

    def revert(self, result, flow_failures, **kwargs):
        if not self.remap_on_revert:
            return
        if isinstance(result, task_fail.Failure):
            # Partly detached (a VIOS update failed): find the disks.
            result = self.disk_dvr.find_disks(self.instance, self.disk_types)
        if not result:
            return
        LOG.warning('Mapping disk(s) %s back after a failed operation.',
                    [elem.name for elem in result],
                    instance=self.instance)
        self.disk_dvr.map_disks(self.instance, result)


class DeleteDisk(tf_base.Task):
    """Delete the disks in 'stor_adpt_mappings' (from DetachDisk).

    :param confirm: ``(instance, disk_types)``: a delete whose answer was
        lost (it may have been made) is success when those disks are gone
        (looked up by name; unrescue: the disk cannot be put back).
    """

    def __init__(self, disk_dvr, confirm=None):
        super().__init__(name='delete_disk', requires=['stor_adpt_mappings'])
        self.disk_dvr = disk_dvr
        self.confirm = confirm

    def execute(self, stor_adpt_mappings):
        try:
            self.disk_dvr.delete_disks(stor_adpt_mappings)
        except Exception as e:
            if self.confirm is None or not exc.may_have_applied(e):
                raise
            instance, disk_types = self.confirm
            try:
                left = self.disk_dvr.boot_disks(instance,
                                                disk_types=disk_types)
            except Exception:
                LOG.warning('Could not check the disks after a failed '
                            'delete.', instance=instance, exc_info=True)
                raise e
            if left:
                raise
            LOG.warning('The disk delete failed (%s) but the disks are '
                        'gone.', e, instance=instance)


class ExtendDisk(tf_base.Task):
    """Grow the boot disk to ``size_gb`` (resize).

    Nothing to revert: a disk cannot be shrunk back.
    """

    def __init__(self, disk_dvr, instance, size_gb, disk_info=None):
        super().__init__(name='extend_disk')
        self.disk_dvr = disk_dvr
        self.instance = instance
        self.size_gb = size_gb
        self.disk_info = disk_info

    def execute(self):
        self.disk_dvr.extend_disk(self.instance, self.disk_info,
                                  self.size_gb)
