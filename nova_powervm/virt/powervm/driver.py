"""PowerVMDriver: the nova compute driver for IBM PowerVM.

This module stays lean: it holds nova's ComputeDriver entry points and
delegates to TaskFlow flows (``tasks/``) and to the logic modules (``vm``,
``host``, ``vif``, ``media``, ``disk/``, ``volume/``).
"""
from nova.compute import task_states
from nova import exception as nova_exc
from nova import objects
from nova.virt import driver
from oslo_log import log as logging
from oslo_serialization import jsonutils
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import session as pvm_session
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import image as tf_img
from nova_powervm.virt.powervm.tasks import volume as tf_vol
from nova_powervm.virt.powervm.volume import driver as volume_dvr

LOG = logging.getLogger(__name__)
CONF = cfg.CONF


class PowerVMDriver(driver.ComputeDriver):
    """PowerVM implementation of nova's ComputeDriver."""

    # nova's defaults are all False; only what is implemented is turned on.
    capabilities = dict(driver.ComputeDriver.capabilities,
                        supports_image_type_raw=True,
                        supports_extend_volume=True)

    def __init__(self, virtapi):
        super().__init__(virtapi)
        self.adapter = None
        self.host_wrapper = None
        self.host_uuid = None

    def init_host(self, host):
        """Connect to the REST API and read the managed system.

        :raises RestServerUnreachable, RestAuthenticationFailed: with the
            host and port, after ``[powervm] conn_tries`` attempts.
        """
        self.adapter = pvm_session.build_adapter()
        self.host_wrapper = pvm_session.get_host_wrapper(self.adapter)
        self.host_uuid = self.host_wrapper.uuid
        LOG.info('PowerVM driver connected to managed system %(name)s '
                 '(%(uuid)s).', {'name': self.host_wrapper.system_name,
                                 'uuid': self.host_uuid})

    # Snapshot (SSP+snapshot helper).

    def snapshot(self, context, instance, image_id, update_task_state):
        """Upload the instance's boot disk as the data of image ``image_id``.

        For every disk driver, through the disk interface: the boot disk is
        mapped to the management partition, streamed to the image service
        and the mapping is always removed again (a failure reverts it).
        REST: one VIOS feed GET, one POST to map, one POST to unmap.
        """
        if not self.disk_dvr.capabilities.get('snapshot'):
            raise nova_exc.NotSupportedWithOption(
                operation='snapshot',
                option='[powervm] disk_driver=%s' % CONF.powervm.disk_driver)
        flow = tf_lf.Flow('snapshot_%s' % instance.uuid)
        flow.add(
            tf_img.UpdateTaskState(update_task_state,
                                   task_states.IMAGE_PENDING_UPLOAD),
            tf_img.InstanceDiskToMgmt(self.adapter, self.disk_dvr, instance),
            tf_img.UpdateTaskState(
                update_task_state, task_states.IMAGE_UPLOADING,
                expected_state=task_states.IMAGE_PENDING_UPLOAD),
            tf_img.StreamToGlance(context, instance, image_id),
            tf_img.RemoveInstanceDiskFromMgmt(self.adapter, self.disk_dvr,
                                              instance))
        tf_base.run(flow, instance=instance)

    # Cinder volumes (volume helper).

    def get_volume_connector(self, instance):
        """What Cinder needs to export a volume to this host.

        ``wwpns`` are the VIOSes' physical FC ports (vSCSI) or the instance's
        own virtual FC ports (NPIV, created and saved on first use).
        """
        props = {'host': CONF.host, 'ip': CONF.my_block_storage_ip,
                 'platform': 'ppc64', 'os_type': 'linux',
                 'multipath': CONF.powervm.volume_use_multipath}
        props.update(volume_dvr.fc_adapter_class().get_connector_properties(
            self.adapter, self.host_uuid, instance))
        return props

    def _build_vol_drv(self, instance, connection_info, stg_ftsk=None):
        return volume_dvr.build_volume_driver(
            self.adapter, self.host_uuid, instance, connection_info,
            stg_ftsk=stg_ftsk)

    @staticmethod
    def _run_flow(name, *tasks):
        flow = tf_lf.Flow(name)
        flow.add(*tasks)
        tf_eng.run(flow)

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        """Connect a Cinder volume to the instance (undone on failure)."""
        vol_drv = self._build_vol_drv(instance, connection_info)
        if encryption and encryption.get('provider'):
            raise nova_exc.VolumeEncryptionNotSupported(
                volume_type=connection_info.get('driver_volume_type'),
                volume_id=vol_drv.volume_id)
        self._run_flow('attach_vol_%s' % instance.uuid,
                       tf_vol.AttachVolume(vol_drv))

    def _last_fc_volume(self, context, instance, volume_id):
        """Whether no other FC volume of the instance stays attached."""
        try:
            bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(
                context, instance.uuid)
        except Exception:
            LOG.warning('Cannot list the volumes of instance %s; keeping '
                        'its shared volume adapters.', instance.uuid)
            return False
        for bdm in bdms:
            if (not bdm.is_volume or bdm.volume_id == volume_id or
                    not bdm.connection_info):
                continue
            info = jsonutils.loads(bdm.connection_info)
            if info.get('driver_volume_type') in volume_dvr.FC_TYPES:
                return False
        return True

    def detach_volume(self, context, connection_info, instance, mountpoint,
                      encryption=None):
        """Disconnect a Cinder volume (connected back if it fails)."""
        vol_drv = self._build_vol_drv(instance, connection_info)
        if vol_drv.vol_type() == 'npiv':
            vol_drv.last_volume = self._last_fc_volume(
                context, instance, vol_drv.volume_id)
        self._run_flow('detach_vol_%s' % instance.uuid,
                       tf_vol.DetachVolume(vol_drv))

    def extend_volume(self, context, connection_info, instance,
                      requested_size):
        """Make the instance see the volume's new size (VIOS rescan)."""
        vol_drv = self._build_vol_drv(instance, connection_info)
        self._run_flow('extend_vol_%s' % instance.uuid,
                       tf_vol.ExtendVolume(vol_drv))

    @staticmethod
    def _is_booted_from_volume(block_device_info):
        """Whether the root disk is a Cinder volume."""
        return any(bdm.get('boot_index') == 0 for bdm in
                   driver.block_device_info_get_mapping(block_device_info))

    def _add_volume_connect_tasks(self, flow, instance, block_device_info,
                                  stg_ftsk):
        """Spawn: connect each volume and save its BDM.

        The VIOS changes are queued on ``stg_ftsk``; the caller adds it to
        ``flow`` after these tasks.
        """
        for bdm in driver.block_device_info_get_mapping(block_device_info):
            vol_drv = self._build_vol_drv(instance, bdm['connection_info'],
                                          stg_ftsk=stg_ftsk)
            flow.add(tf_vol.AttachVolume(vol_drv))
            flow.add(tf_vol.SaveBDM(bdm, instance))

    def _add_volume_disconnect_tasks(self, flow, instance, block_device_info,
                                     stg_ftsk):
        """Destroy: disconnect every volume.

        The VIOS changes are queued on ``stg_ftsk``; the caller adds it to
        ``flow`` after these tasks.
        """
        for bdm in driver.block_device_info_get_mapping(block_device_info):
            vol_drv = self._build_vol_drv(instance, bdm['connection_info'],
                                          stg_ftsk=stg_ftsk)
            flow.add(tf_vol.DetachVolume(vol_drv))
