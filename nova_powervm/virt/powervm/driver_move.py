"""Resize and cold migration: nova's move entry points of the driver.

Same host (resize): the source powers the partition off; finish applies
the new flavor (processors, memory, ``powervm:`` extra specs) to the same
partition and grows the boot disk; revert applies the old flavor again
(a grown disk stays grown: disks never shrink); confirm has nothing to do.

Across hosts (cold migration, or a resize to another host): the boot disk
must be on storage both hosts see (an SSP logical unit stays in the shared
pool) or be a Cinder volume.  The source powers off and disconnects the
volumes, keeping its partition, disk mapping and VIFs for a revert; the
target creates a partition, plugs VIFs, maps the same LU, connects the
volumes (nova gave them the target's connection info), powers on and saves
the partition's slot map (a later rebuild there keeps its slots).
Confirm removes the source partition (not the LU) and the source's map;
revert removes the target partition (``destroy`` keeps a shared disk) and
its map, and reconnects and starts the source one (saving its map again
when a shared ``slot_map_dir`` held the target's).  localdisk boot disks
are refused across hosts before anything changes, as the earlier PowerVM
drivers did; so is a target that is not in the boot disk's pool, lacks the
Fibre Channel paths of a volume or cannot fit the flavor (the target
checks itself: ``move_check``).

Every flow reverts its completed steps on failure.  Refusals are nova
``InstanceFaultRollback`` (the instance stays as it was, with a fault).
"""
from nova.compute import rpcapi as compute_rpcapi
from nova.compute import task_states
from nova import exception as nova_exc
from nova import objects
from nova.virt import configdrive
from nova.virt import driver
from oslo_log import log as logging
from oslo_serialization import jsonutils
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import driver_rebuild
from nova_powervm.virt.powervm import driver_volume
from nova_powervm.virt.powervm import move_check
from nova_powervm.virt.powervm import state_cache as pvm_state
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import media as tf_media
from nova_powervm.virt.powervm.tasks import network as tf_net
from nova_powervm.virt.powervm.tasks import storage as tf_stg
from nova_powervm.virt.powervm.tasks import vm as tf_vm
from nova_powervm.virt.powervm import vm

LOG = logging.getLogger(__name__)
CONF = cfg.CONF


def _refuse(reason):
    """The refusal of a move: nothing changed, the instance rolls back."""
    return nova_exc.InstanceFaultRollback(
        inner_exception=nova_exc.ResizeError(reason=reason))


def _migration(context, instance):
    """The Migration of the instance's move in progress (one DB read)."""
    mig_ctx = instance.migration_context
    if mig_ctx is None:
        return None
    return objects.Migration.get_by_id(context, mig_ctx.migration_id)


def _same_host(context, instance, migration=None):
    """Whether the move stays on one host (a resize in place)."""
    mig = migration or _migration(context, instance)
    return mig is None or mig.source_compute == mig.dest_compute


def same_host_revert(context, instance):
    """nova destroys the "target" of a reverted resize, here the source.

    For a resize on one host that partition is the instance's own: it must
    stay (``finish_revert_migration`` restores its old flavor).
    """
    if getattr(instance, 'task_state', None) != task_states.RESIZE_REVERTING:
        return False
    return _same_host(context, instance)


def keep_disks(drv, instance):
    """A reverted migration's target must not delete a shared boot disk."""
    return (getattr(instance, 'task_state', None) ==
            task_states.RESIZE_REVERTING and
            drv.disk_dvr.capabilities.get('shared_storage'))


class MoveMixin(object):
    """migrate_disk_and_power_off, finish_migration, confirm and revert."""

    # -- shared storage (nova asks before it destroys a target's disks) ------

    def check_instance_shared_storage_local(self, context, instance):
        """What identifies this host's instance storage (for the peer)."""
        return {'host_uuid': self.host_uuid,
                'ssp_uuid': getattr(self.disk_dvr, 'ssp_uuid', None)}

    def check_instance_shared_storage_remote(self, context, data):
        """Whether this host sees the storage the peer described.

        A migration's check (``move_check.KEY``) is answered with the
        reasons this host refuses the instance instead.
        """
        if move_check.KEY in data:
            return move_check.answer(self, context, data[move_check.KEY])
        if data.get('host_uuid') == self.host_uuid:
            return True
        ssp = data.get('ssp_uuid')
        return bool(ssp) and ssp == getattr(self.disk_dvr, 'ssp_uuid', None)

    def check_instance_shared_storage_cleanup(self, context, data):
        """Nothing was created by the check."""

    # -- source -------------------------------------------------------------

    def migrate_disk_and_power_off(self, context, instance, dest, flavor,
                                   network_info, block_device_info=None,
                                   timeout=0, retry_interval=0):
        """Check the move, power off; across hosts disconnect the volumes.

        :raises InstanceFaultRollback: (ResizeError) a root disk shrink, a
            grow the disk driver cannot do, a localdisk disk across hosts,
            a target without the shared storage pool or the volumes'
            Fibre Channel paths, or a flavor the (target) host cannot give
            a partition; nothing changed.
        """
        migration = _migration(context, instance)
        same = _same_host(context, instance, migration)
        bfv = self._is_booted_from_volume(block_device_info)
        self._check_move(context, instance, flavor, migration, bfv,
                         block_device_info)
        pvm_state.remember(self, instance)
        flow = tf_lf.Flow('migrate_power_off_%s' % instance.uuid)
        flow.add(tf_vm.PowerOff(self.adapter, instance,
                                force_immediate=not timeout,
                                restore_on_revert=True))
        if not same:
            # For the target's new partition.
            flow.add(tf_vm.SaveNvram(self.nvram_mgr, instance))
        if not same and driver_bdms(block_device_info):
            stg_ftsk = self._vios_feed_task(volumes=True)
            driver_volume.add_disconnect_tasks(self, flow, instance,
                                               block_device_info, stg_ftsk)
            flow.add(stg_ftsk)
        tf_base.run(flow, instance=instance)
        return jsonutils.dumps({'same_host': same})

    def _check_move(self, context, instance, flavor, migration, bfv,
                    block_device_info):
        """Refuse what cannot be done, before any change on either host.

        Across hosts the target checks itself (``move_check``): its pool,
        the flavor, the Fibre Channel paths of the volumes.
        """
        same = _same_host(context, instance, migration)
        old = instance.flavor
        if not bfv:
            if flavor.root_gb < old.root_gb:
                raise _refuse(_('the root disk cannot shrink from %(old)d '
                                'to %(new)d GB') % {'old': old.root_gb,
                                                    'new': flavor.root_gb})
            if (flavor.root_gb > old.root_gb and
                    not self.disk_dvr.capabilities.get('extend')):
                raise _refuse(_('the boot disk cannot grow: disks of '
                                'volume group %s are file-backed') %
                              CONF.powervm.volume_group_name)
            if (not same and
                    not self.disk_dvr.capabilities.get('shared_storage')):
                raise _refuse(_('the boot disk is on storage of this host '
                                'only ([powervm] disk_driver = %s); '
                                'migrating to another host needs a shared '
                                'storage pool (ssp) or a boot volume') %
                              CONF.powervm.disk_driver)
        if not same:
            self._ask_target(context, instance, migration.dest_compute,
                             flavor, bfv, block_device_info)
            return
        error = move_check.fit_error(self, instance, flavor)
        if error:
            raise nova_exc.InstanceFaultRollback(inner_exception=error)

    def _ask_target(self, context, instance, dest, flavor, bfv,
                    block_device_info):
        """The target's answer to ``move_check.query`` (one RPC call)."""
        ssp = None if bfv else getattr(self.disk_dvr, 'ssp_uuid', None)
        data = {move_check.KEY: move_check.query(
            instance, flavor, ssp, driver_bdms(block_device_info))}
        try:
            reasons = compute_rpcapi.ComputeAPI(
            ).check_instance_shared_storage(context, data,
                                            instance=instance, host=dest)
        except Exception as e:
            raise _refuse(_('host %(dest)s did not answer the migration '
                            'check: %(e)s') % {'dest': dest, 'e': e})
        if reasons:
            raise _refuse(_('host %(dest)s cannot take the instance: '
                            '%(why)s') % {'dest': dest,
                                          'why': '; '.join(reasons)})

    def confirm_migration(self, context, migration, instance, network_info):
        """Across hosts: remove the source partition (not its shared LU)."""
        if _same_host(context, instance, migration):
            return
        self.destroy(context, instance, network_info, destroy_disks=False)
        driver_rebuild.left_host(self, instance)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        """Restore the source partition: old flavor / volumes, power; its
        slot map again if the target's replaced it.
        """
        pvm_state.remember(self, instance)
        flow = tf_lf.Flow('finish_revert_%s' % instance.uuid)
        flow.add(tf_vm.Get(self.adapter, instance))
        same = _same_host(context, instance, migration)
        stg_ftsk = None
        if same:
            flow.add(tf_vm.Resize(self.adapter, self.host_wrapper, instance,
                                  instance.flavor,
                                  instance.new_flavor or instance.flavor))
        elif driver_bdms(block_device_info):
            stg_ftsk = self._vios_feed_task(volumes=True)
            driver_volume.add_connect_tasks(self, flow, instance,
                                            block_device_info, stg_ftsk)
            flow.add(stg_ftsk)
        if power_on:
            flow.add(tf_vm.PowerOn(self.adapter, instance))
        tf_base.run(flow, instance=instance)
        if not same:
            # A target sharing slot_map_dir replaced this host's map.
            driver_rebuild.returned(
                self, instance, stg_ftsk.feed if stg_ftsk else None)

    # -- target -------------------------------------------------------------

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True,
                         share_info=None):
        """Apply the new flavor here (same host), or build the partition.

        Across hosts: a new partition on this host with the shared disk,
        the volumes, VIFs and config drive.
        """
        pvm_state.remember(self, instance)
        old = instance.old_flavor or instance.flavor
        grow = (resize_instance and not
                self._is_booted_from_volume(block_device_info) and
                instance.flavor.root_gb > old.root_gb)
        flow = tf_lf.Flow('finish_migration_%s' % instance.uuid)
        store, stg_ftsk = {}, None
        if _same_host(context, instance, migration):
            flow.add(tf_vm.Get(self.adapter, instance),
                     tf_vm.Resize(self.adapter, self.host_wrapper, instance,
                                  instance.flavor, old))
            if grow:
                flow.add(tf_stg.ExtendDisk(self.disk_dvr, instance,
                                           instance.flavor.root_gb))
        else:
            store, stg_ftsk = self._add_create_tasks(
                flow, instance, network_info, block_device_info, grow)
        if power_on:
            flow.add(tf_vm.PowerOn(self.adapter, instance))
        engine = tf_base.run(flow, instance=instance, store=store)
        if stg_ftsk is not None:
            # The new partition's slots (no request): a rebuild here
            # requests them.
            driver_rebuild.record(self, instance, engine, stg_ftsk.feed)

    def _add_create_tasks(self, flow, instance, network_info,
                          block_device_info, grow):
        """The target's partition, VIFs, shared boot disk, volumes, media.

        :returns: the flow's initial store ('disk_dev_info': the boot LU)
            and its VIOS FeedTask.
        :raises DiskNotFound: the boot disk is not in this host's pool
            (before any change).
        """
        lpar_w = vm.build_lpar(self.adapter, self.host_wrapper, instance)
        bfv = self._is_booted_from_volume(block_device_info)
        store = {}
        if not bfv:
            disks = self.disk_dvr.boot_disks(instance)
            if not disks:
                raise nova_exc.DiskNotFound(
                    location=self.disk_dvr.get_disk_name(
                        disk_dvr.DiskType.BOOT, instance))
            store['disk_dev_info'] = disks[0]
        flow.add(tf_vm.Create(self.adapter, self.host_wrapper, instance,
                              lpar_w=lpar_w, nvram_mgr=self.nvram_mgr),
                 tf_net.PlugVifs(self.virtapi, self.adapter, instance,
                                 network_info, new_partition=True),
                 *tf_net.plug_mgmt_vif(self.adapter, instance))
        stg_ftsk = self._vios_feed_task(
            volumes=bool(driver_bdms(block_device_info)))
        if not bfv:
            if grow:
                flow.add(tf_stg.ExtendDisk(self.disk_dvr, instance,
                                           instance.flavor.root_gb,
                                           disk_info=disks[0]))
            flow.add(tf_stg.AttachDisk(self.disk_dvr, instance, stg_ftsk))
        if driver_bdms(block_device_info):
            driver_volume.add_connect_tasks(self, flow, instance,
                                            block_device_info, stg_ftsk)
        if configdrive.required_by(instance):
            flow.add(tf_media.CreateAndConnectCfgDrive(
                self.adapter, instance, None, network_info, stg_ftsk))
        flow.add(stg_ftsk)
        return store, stg_ftsk


def driver_bdms(block_device_info):
    """The volume mappings of ``block_device_info``."""
    return driver.block_device_info_get_mapping(block_device_info)
