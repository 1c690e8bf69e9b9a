"""Cinder volume entry points of the compute driver.

The driver's volume methods delegate here: the connector for each
``connection_info`` comes from ``volume.driver.build_volume_driver``; each
operation is a one-task TaskFlow flow (attach, detach, extend), and spawn /
destroy add one task per volume to their own flows.
"""
from nova import exception as nova_exc
from nova import objects
from nova.virt import driver
from oslo_log import log as logging
from oslo_serialization import jsonutils
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import driver_rebuild
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import volume as tf_vol
from nova_powervm.virt.powervm.volume import driver as volume_dvr

LOG = logging.getLogger(__name__)
CONF = cfg.CONF


def connector(drv, instance):
    """What Cinder needs to export a volume to this host.

    ``wwpns`` are the VIOSes' physical FC ports (vSCSI) or the instance's
    own virtual FC ports (NPIV, created and saved on first use).
    """
    props = {'host': drv.get_available_nodes()[0],
             'ip': CONF.my_block_storage_ip,
             'platform': 'ppc64', 'os_type': 'linux',
             'multipath': CONF.powervm.volume_use_multipath}
    props.update(volume_dvr.connector_properties(
        drv.adapter, drv.host_uuid, instance))
    return props


def build(drv, instance, connection_info, stg_ftsk=None):
    """The connector for one volume of ``instance``."""
    return volume_dvr.build_volume_driver(
        drv.adapter, drv.host_uuid, instance, connection_info,
        stg_ftsk=stg_ftsk)


def _run_flow(name, instance, *tasks):
    flow = tf_lf.Flow(name)
    flow.add(*tasks)
    tf_base.run(flow, instance=instance)


def attach(drv, connection_info, instance, encryption=None):
    """Connect a Cinder volume to the instance (undone on failure)."""
    vol_drv = build(drv, instance, connection_info)
    if encryption and encryption.get('provider'):
        raise nova_exc.VolumeEncryptionNotSupported(
            volume_type=connection_info.get('driver_volume_type'),
            volume_id=vol_drv.volume_id)
    _run_flow('attach_vol_%s' % instance.uuid, instance,
              tf_vol.AttachVolume(vol_drv))
    driver_rebuild.record(drv, instance, vioses=vol_drv.vios_wrappers())


def last_fc_volume(context, instance, volume_id):
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


def detach(drv, context, connection_info, instance):
    """Disconnect a Cinder volume (connected back if it fails)."""
    vol_drv = build(drv, instance, connection_info)
    if vol_drv.vol_type() == 'npiv':
        vol_drv.last_volume = last_fc_volume(context, instance,
                                             vol_drv.volume_id)
    _run_flow('detach_vol_%s' % instance.uuid, instance,
              tf_vol.DetachVolume(vol_drv))
    driver_rebuild.record(drv, instance, vioses=vol_drv.vios_wrappers())


def extend(drv, connection_info, instance):
    """Make the instance see the volume's new size."""
    vol_drv = build(drv, instance, connection_info)
    _run_flow('extend_vol_%s' % instance.uuid, instance,
              tf_vol.ExtendVolume(vol_drv))


def _volume_drivers(drv, instance, block_device_info, stg_ftsk):
    """(bdm, connector) for each volume of ``block_device_info``."""
    for bdm in driver.block_device_info_get_mapping(block_device_info):
        yield bdm, build(drv, instance, bdm['connection_info'],
                         stg_ftsk=stg_ftsk)


def add_connect_tasks(drv, flow, instance, block_device_info, stg_ftsk):
    """Spawn: connect each volume and save its BDM.

    The VIOS changes are queued on ``stg_ftsk``; the caller adds it to
    ``flow`` after these tasks.
    """
    for bdm, vol_drv in _volume_drivers(drv, instance, block_device_info,
                                        stg_ftsk):
        flow.add(tf_vol.AttachVolume(vol_drv))
        flow.add(tf_vol.SaveBDM(bdm, instance))


def add_disconnect_tasks(drv, flow, instance, block_device_info, stg_ftsk):
    """Destroy: disconnect every volume (changes queued on stg_ftsk)."""
    for _bdm, vol_drv in _volume_drivers(drv, instance, block_device_info,
                                         stg_ftsk):
        flow.add(tf_vol.DetachVolume(vol_drv))
