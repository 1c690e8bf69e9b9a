"""TaskFlow tasks for snapshot: boot disk -> management partition -> image.

Flow (:func:`snapshot_flow`, run by ``PowerVMDriver.snapshot``)::

    UpdateTaskState(IMAGE_PENDING_UPLOAD)
    InstanceDiskToMgmt         provides stg_elem, vios_wrap, disk_path
    UpdateTaskState(IMAGE_UPLOADING)
    StreamToGlance             requires disk_path
    RemoveInstanceDiskFromMgmt requires stg_elem, vios_wrap, disk_path

A failure anywhere after the mapping reverts ``InstanceDiskToMgmt``, which
removes the temporary mapping (also when discovering the device failed).
"""
from nova.compute import task_states
from oslo_log import log as logging
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.virt.powervm import image
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import snapshot_cancel
from nova_powervm.virt.powervm.tasks import base as tf_base

LOG = logging.getLogger(__name__)


class UpdateTaskState(tf_base.Task):
    """Report a snapshot task state to nova (no revert: nova resets it)."""

    def __init__(self, update_task_state, task_state, expected_state=None):
        super().__init__(name='update_task_state_%s' % task_state)
        self.update_task_state = update_task_state
        self.task_state = task_state
        self.expected_state = expected_state

    def execute(self):
        if self.expected_state is None:
            self.update_task_state(task_state=self.task_state)
        else:
            self.update_task_state(task_state=self.task_state,
                                   expected_state=self.expected_state)


def _unmap_from_mgmt(adapter, disk_dvr, vios_wrap, disk_name, disk_path,
                     instance):
    if disk_path:
        mgmt.remove_block_dev(disk_path)
    disk_dvr.disconnect_disk_from_mgmt(vios_wrap, disk_name,
                                       mgmt.mgmt_uuid(adapter))
    LOG.info('Removed the mapping of disk %s from the management '
             'partition.', disk_name, instance=instance)


class InstanceDiskToMgmt(tf_base.Task):
    """Map the boot disk to the management partition and find its device.

    Provides 'stg_elem', 'vios_wrap', 'disk_path'.  Revert (and a failure
    of this task after the mapping was made) removes the mapping.
    """

    def __init__(self, adapter, disk_dvr, instance):
        super().__init__(name='instance_disk_to_mgmt',
                         provides=['stg_elem', 'vios_wrap', 'disk_path'])
        self.adapter = adapter
        self.disk_dvr = disk_dvr
        self.instance = instance
        self._mapped = None
        self._disk_path = None

    def execute(self):
        stg_elem, vios_wrap, mapping = (
            self.disk_dvr.connect_instance_disk_to_mgmt(
                self.instance, mgmt.mgmt_uuid(self.adapter)))
        self._mapped = (vios_wrap, stg_elem.name)
        LOG.info('Mapped boot disk %(disk)s to the management partition '
                 'through VIOS %(vios)s.',
                 {'disk': stg_elem.name, 'vios': vios_wrap.name},
                 instance=self.instance)
        self._disk_path = mgmt.discover_vscsi_disk(mapping)
        return stg_elem, vios_wrap, self._disk_path

    def revert(self, *args, **kwargs):
        if self._mapped is None:
            return
        vios_wrap, disk_name = self._mapped
        LOG.warning('Snapshot failed; removing the mapping of disk %s from '
                    'the management partition.', disk_name,
                    instance=self.instance)
        # By UUID: re-read the VIOS, since a failed removal may have left
        # the wrapper changed locally but not on the server.
        _unmap_from_mgmt(self.adapter, self.disk_dvr, vios_wrap.uuid,
                         disk_name, self._disk_path, self.instance)
        self._mapped = None


class StreamToGlance(tf_base.Task):
    """Stream the mapped disk into the image (requires 'disk_path').

    :param cancelled: an Event; once set (destroy, see snapshot_cancel) the
        upload fails at its next read with SnapshotCancelled.
    """

    def __init__(self, context, instance, image_id, cancelled=None):
        super().__init__(name='stream_to_glance', requires=['disk_path'])
        self.context = context
        self.instance = instance
        self.image_id = image_id
        self.cancelled = cancelled

    def execute(self, disk_path):
        image.stream_to_image(
            self.context, self.image_id,
            image.snapshot_metadata(self.instance), disk_path,
            check=lambda: snapshot_cancel.check(self.cancelled,
                                                self.instance))


class RemoveInstanceDiskFromMgmt(tf_base.Task):
    """Forget the device and remove the mapping to the management partition.

    Requires 'stg_elem', 'vios_wrap', 'disk_path'.  Idempotent.
    """

    def __init__(self, adapter, disk_dvr, instance):
        super().__init__(name='remove_instance_disk_from_mgmt',
                         requires=['stg_elem', 'vios_wrap', 'disk_path'])
        self.adapter = adapter
        self.disk_dvr = disk_dvr
        self.instance = instance

    def execute(self, stg_elem, vios_wrap, disk_path):
        _unmap_from_mgmt(self.adapter, self.disk_dvr, vios_wrap,
                         stg_elem.name, disk_path, self.instance)


def snapshot_flow(adapter, disk_dvr, context, instance, image_id,
                  update_task_state, cancelled=None):
    """The snapshot flow (see the module's docstring).

    :param cancelled: an Event that stops the upload (StreamToGlance).
    """
    flow = tf_lf.Flow('snapshot_%s' % instance.uuid)
    flow.add(
        UpdateTaskState(update_task_state, task_states.IMAGE_PENDING_UPLOAD),
        InstanceDiskToMgmt(adapter, disk_dvr, instance),
        UpdateTaskState(update_task_state, task_states.IMAGE_UPLOADING,
                        expected_state=task_states.IMAGE_PENDING_UPLOAD),
        StreamToGlance(context, instance, image_id, cancelled=cancelled),
        RemoveInstanceDiskFromMgmt(adapter, disk_dvr, instance))
    return flow
