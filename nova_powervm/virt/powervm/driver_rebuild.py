"""Rebuild and evacuate: what spawn and destroy do differently for them.

nova rebuilds through its default implementation: on the same host it
destroys the partition (``task_state`` rebuilding) and spawns it again
(rebuild_spawning); an evacuation spawns on the target host while the
source compute is down and, when the source comes back, nova destroys the
partition there, with ``destroy_disks`` False when the source and the
target share the instance's storage (``check_instance_shared_storage_*``,
driver_move).

* ``instance_on_disk`` (nova asks the target): True when the boot disk is
  reachable from this host: the instance's LU is in the shared storage
  pool, or the root disk is a Cinder volume; False for localdisk (nova
  then evacuates from the image, a new disk).
* A rebuild spawn on shared storage whose LU still exists (an evacuation:
  a same-host rebuild deleted it first) reattaches that LU.
* The recreated partition requests its saved slots (``slot_map``).  The
  map is saved by spawn and by a cold migration's target (driver_move),
  kept by a same-host rebuild's destroy and an evacuated source (the
  target may read it); it is deleted with the instance, at shelve offload
  (unshelving spawns anew, maybe elsewhere, and deleting an offloaded
  instance never reaches this host), by a reverted migration's target
  (:func:`destroyed`; the source saves its own again if it was replaced,
  :func:`returned`) and when the instance left this host
  (:func:`left_host`).
"""
import functools

from nova.compute import task_states
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par

from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import host_net
from nova_powervm.virt.powervm import slot_map
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import storage as tf_stg
from nova_powervm.virt.powervm import vif

LOG = logging.getLogger(__name__)


def _shared(drv):
    return drv.disk_dvr.capabilities.get('shared_storage', False)


def instance_on_disk(drv, instance):
    """Whether the instance's root disk is reachable from this host.

    Boot from volume (no image): True.  Shared storage pool: True when the
    instance's boot LU is in the pool (one GET).  localdisk: False.
    """
    if not instance.image_ref:
        return True
    if not _shared(drv):
        return False
    return bool(drv.disk_dvr.boot_disks(instance))


def add_boot_disk(drv, flow, context, instance, image_meta, stg_ftsk):
    """Spawn's boot disk tasks: created from the image, or reattached.

    A rebuild spawn on shared storage whose LU exists is an evacuation
    (nova found the disk with instance_on_disk): the LU is reattached.
    Everything else creates the disk from the image.
    """
    if (instance.task_state == task_states.REBUILD_SPAWNING and
            instance_on_disk(drv, instance)):
        LOG.info('Rebuild with the boot disk in the shared storage pool: '
                 'reattaching it.', instance=instance)
        flow.add(tf_stg.FindBootDisk(drv.disk_dvr, instance))
    else:
        flow.add(tf_stg.CreateDiskForImg(drv.disk_dvr, context, instance,
                                         image_meta))
    flow.add(tf_stg.AttachDisk(drv.disk_dvr, instance, stg_ftsk))


def run_spawn(drv, instance, flow, stg_ftsk):
    """Run spawn's flow (a rebuild requests the saved slots); save the map.

    The map comes from the flow's adapters and ``stg_ftsk``'s VIOSes, which
    are then kept for the next operation (batch: no GET of the feed).
    """
    with slot_map.rebuilding(drv.adapter, instance,
                             boot_vioses=drv.disk_dvr.vios_uuids):
        engine = tf_base.run(flow, instance=instance,
                             exc_class=exc.SpawnTaskFailed)
    record(drv, instance, engine, stg_ftsk.feed)
    stg_ftsk.release()


def destroyed(drv, instance):
    """After destroy: forget the slot map when nothing will read it.

    Deleted or shelve-offloaded.  A reverted migration's target deletes
    the map it saved (its slots are not the source partition's; a map
    another host saved stays).  Kept otherwise: a rebuild's spawn uses it,
    an evacuated instance lives on another host.
    """
    deleted = instance.obj_attr_is_set('deleted') and instance.deleted
    if deleted or instance.task_state in (task_states.DELETING,
                                          task_states.SHELVING_OFFLOADING):
        slot_map.forget(instance)
    elif instance.task_state == task_states.RESIZE_REVERTING:
        slot_map.left(instance, drv.host_uuid)


def left_host(drv, instance):
    """The instance left this host for good (confirmed or live migration).

    The map this host saved is deleted (a target sharing ``slot_map_dir``
    keeps its own).
    """
    slot_map.left(instance, drv.host_uuid)


def arriving(drv, instance):
    """A live migration's target: take over a map it sees (shared dir)."""
    slot_map.adopt(instance, drv.host_uuid)


def returned(drv, instance, vioses=None):
    """A migration to another host was reverted: the source's map again.

    The map this host saved is still there with its own ``slot_map_dir``;
    a target sharing the directory replaced it with its own and deleted
    that at the revert (:func:`destroyed`): then the map is saved again
    from the partition (its adapters and, unless given, the VIOS feed:
    two reads).  A failure is logged, not raised (the revert succeeded).

    :param vioses: VIOS wrappers with SCSI mappings the revert already
        holds (its volumes' flow).
    """
    if not slot_map.enabled() or slot_map.saved_by(instance, drv.host_uuid):
        return
    try:
        cnas = vif.get_cnas(drv.adapter, instance)
        if vioses is None:
            vioses = pvm_par.get_active_vioses(
                drv.adapter, xag=[pvm_const.XAG.VIO_SMAP])
    except pvm_exc.Error as e:
        LOG.warning('Could not read the partition to save its slot map '
                    'again: %s', e, instance=instance)
        return
    record(drv, instance, vioses=vioses, cnas=cnas)


def record(drv, instance, engine=None, vioses=None, cnas=None):
    """Save the instance's slot map after spawn, a network or volume change.

    :param engine: the operation's finished flow engine: its 'vm_cnas'
        (PlugVifs, UnplugVif) and 'mgmt_cna' are the partition's adapters.
    :param vioses: the VIOS wrappers (SCSI mappings) the operation left.
    :param cnas: the partition's adapters (instead of ``engine``'s).
    """
    if not slot_map.enabled():
        return
    slot_map.record(drv.adapter, instance, _boot_match(drv, instance),
                    functools.partial(host_net.vswitch_names, drv.adapter),
                    cnas=_flow_cnas(engine) if cnas is None else cnas,
                    vioses=vioses, owner=drv.host_uuid)


def _flow_cnas(engine):
    """The partition's CNAs as the flow left them (None: not in the flow)."""
    stored = engine.storage.fetch_all() if engine is not None else {}
    if stored.get('vm_cnas') is None:
        return None
    cnas = list(stored['vm_cnas'])
    mgmt = stored.get('mgmt_cna')
    if mgmt is not None and not any(c is mgmt for c in cnas):
        cnas.append(mgmt)
    return cnas


def _boot_match(drv, instance):
    if drv.disk_dvr is None:
        return lambda stg_elem: False
    return drv.disk_dvr.disk_match_func(disk_dvr.DiskType.BOOT, instance)
