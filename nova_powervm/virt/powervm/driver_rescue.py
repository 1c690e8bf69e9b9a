"""Rescue and unrescue flows of the compute driver.

Rescue creates a disk from the rescue image (through the disk driver, so
localdisk and ssp alike), maps it to the partition next to the untouched
boot disk and starts the partition in SMS boot mode: firmware offers the
rescue disk (the REST API's PowerOn job has no other way to name a boot
device).  Unrescue stops the partition, removes and deletes the rescue
disk and starts the partition normally from its boot disk.  Every step
is reverted when a later one fails.
"""
from nova import exception as nova_exc
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power_opts as pvm_popts
from pypowervm.wrappers import base_partition as pvm_bp
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.i18n import _
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import storage as tf_stg
from nova_powervm.virt.powervm.tasks import vm as tf_vm
from nova_powervm.virt.powervm import vm

# Partition states rescue starts from: stopped or running.
_RESCUABLE = (pvm_bp.LPARState.NOT_ACTIVATED, pvm_bp.LPARState.RUNNING)
_RESCUE = (disk_dvr.DiskType.RESCUE,)


def sms_opts():
    """PowerOnOpts booting to firmware's SMS menu (rescue disk choice)."""
    return pvm_popts.PowerOnOpts().bootmode(pvm_popts.BootMode.SMS)


def _rescuable_wrapper(drv, instance, image_meta, boot_from_volume):
    """The partition's wrapper, after refusing what cannot be rescued.

    :raises InstanceNotRescuable: a partition neither stopped nor running,
        or a volume-backed instance (no REST mutation yet).
    :raises ImageUnacceptable: a rescue image the disk driver cannot boot.
    """
    if boot_from_volume:
        raise nova_exc.InstanceNotRescuable(
            instance_id=instance.uuid,
            reason=_('its root disk is a volume'))
    drv.disk_dvr.check_image(image_meta)
    try:
        lpar_w = vm.get_instance_wrapper(drv.adapter, instance)
    except pvm_exc.Error as e:
        raise exc.RescueTaskFailed(task='read_partition',
                                   reason=str(e)) from e
    if lpar_w.state not in _RESCUABLE:
        raise nova_exc.InstanceNotRescuable(
            instance_id=instance.uuid,
            reason=_('its partition is %(state)s, not stopped or '
                     'running') % {'state': lpar_w.state})
    return lpar_w


def rescue(drv, context, instance, image_meta, boot_from_volume=False):
    """Boot the partition from a new rescue disk; see the module doc."""
    # The flow's power tasks read the partition again: a wrapper shared
    # across the power off would be stale for the power on.
    _rescuable_wrapper(drv, instance, image_meta, boot_from_volume)
    stg_ftsk = drv._vios_feed_task(exc_class=exc.RescueTaskFailed)
    flow = tf_lf.Flow('rescue_%s' % instance.uuid)
    flow.add(
        tf_vm.PowerOff(drv.adapter, instance, restore_on_revert=True),
        tf_stg.CreateDiskForImg(drv.disk_dvr, context, instance, image_meta,
                                disk_type=disk_dvr.DiskType.RESCUE),
        tf_stg.AttachDisk(drv.disk_dvr, instance, stg_ftsk,
                          disk_type=disk_dvr.DiskType.RESCUE),
        stg_ftsk,
        tf_vm.PowerOn(drv.adapter, instance, opts=sms_opts()))
    tf_base.run(flow, instance=instance, exc_class=exc.RescueTaskFailed)


def unrescue(drv, instance):
    """Remove the rescue disk and boot the partition's own boot disk."""
    flow = tf_lf.Flow('unrescue_%s' % instance.uuid)
    flow.add(
        tf_vm.PowerOff(drv.adapter, instance, restore_on_revert=True,
                       revert_opts=sms_opts()),
        tf_stg.DetachDisk(drv.disk_dvr, instance, disk_types=_RESCUE,
                          remap_on_revert=True),
        tf_vm.PowerOn(drv.adapter, instance),
        tf_stg.DeleteDisk(drv.disk_dvr, confirm=(instance, _RESCUE)))
    tf_base.run(flow, instance=instance, exc_class=exc.UnrescueTaskFailed)
