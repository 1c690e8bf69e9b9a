"""PowerVMDriver: the nova compute driver for IBM PowerVM.

Lean: nova's ComputeDriver entry points (moves in the ``driver_*`` mixins)
delegate to TaskFlow flows (``tasks/``) and logic modules (``vm``, ``host``,
``vif``, ``media``, ``disk/``, ``volume/``, ``live_migration``).
"""
import functools

from nova import context as nova_context
from nova import exception as nova_exc
from nova import objects
from nova.virt import configdrive
from nova.virt import driver
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import console
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import driver_live_migration as driver_lpm
from nova_powervm.virt.powervm import driver_move
from nova_powervm.virt.powervm import driver_node
from nova_powervm.virt.powervm import driver_rebuild
from nova_powervm.virt.powervm import driver_rescue
from nova_powervm.virt.powervm import driver_volume
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import host as pvm_host
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import nvram
from nova_powervm.virt.powervm import power
from nova_powervm.virt.powervm import sea_vlan
from nova_powervm.virt.powervm import session as pvm_session
from nova_powervm.virt.powervm import snapshot_cancel
from nova_powervm.virt.powervm import startup
from nova_powervm.virt.powervm import state_cache as pvm_state
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm.tasks import image as tf_img
from nova_powervm.virt.powervm.tasks import media as tf_media
from nova_powervm.virt.powervm.tasks import network as tf_net
from nova_powervm.virt.powervm.tasks import storage as tf_stg
from nova_powervm.virt.powervm.tasks import vm as tf_vm
from nova_powervm.virt.powervm import vif as vif_mod
from nova_powervm.virt.powervm import vios_feed
from nova_powervm.virt.powervm import vm
from nova_powervm.virt.powervm.volume import driver as volume_dvr

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

_IMAGE_TYPE_CAP = 'supports_image_type_'
# Destroy removes the boot disk and a rescue disk (same REST requests).
_ALL_DISKS = (disk_dvr.DiskType.BOOT, disk_dvr.DiskType.RESCUE)


class PowerVMDriver(driver_node.NodeMixin, driver_move.MoveMixin,
                    driver_lpm.LiveMigrationMixin, driver.ComputeDriver):
    """PowerVM implementation of nova's ComputeDriver."""

    # nova's defaults are all False; only what is implemented is turned on.
    # has_imagecache and the image types follow the disk driver (init_host).
    capabilities = dict(driver.ComputeDriver.capabilities,
                        supports_image_type_raw=True,
                        supports_extend_volume=True,
                        supports_attach_interface=True,
                        supports_evacuate=True)

    def __init__(self, virtapi):
        super().__init__(virtapi)
        self.adapter = None
        self.host_wrapper = None
        self.host_uuid = None
        self.disk_dvr = None
        self.event_handler = None
        self.nvram_mgr = None

    def init_host(self, host):
        """Connect to NovaLink, wait for the VIOSes, scrub, start listening.

        :raises RestServerUnreachable, RestAuthenticationFailed: with the
            host and port, after ``[powervm] conn_tries`` attempts.
        :raises NotNovaLink, NoActiveVios: see ``startup.prepare_host``.
        """
        self._capture_node(host)
        self.adapter = pvm_session.build_adapter()
        self.host_wrapper = startup.prepare_host(self.adapter)
        self.host_uuid = self.host_wrapper.uuid
        LOG.info('PowerVM driver connected to managed system %(name)s '
                 '(%(uuid)s).', {'name': self.host_wrapper.system_name,
                                 'uuid': self.host_uuid})
        # A bad disk configuration stops nova-compute here (nothing touched).
        self.disk_dvr = disk_dvr.get_disk_driver(self.adapter, self.host_uuid)
        self.capabilities = self.disk_capabilities(self.disk_dvr)
        mgmt.mgmt_uuid(self.adapter)
        sea_vlan.warm(self.adapter, self.host_uuid)
        self.nvram_mgr = nvram.build_manager(self.adapter, host)
        self.event_handler = pvm_event.start_listener(self)
        startup.freeze_gc()

    @classmethod
    def disk_capabilities(cls, disk_dvr):
        """nova capabilities with what depends on the disk driver.

        ``has_imagecache`` as the disk driver says; each
        ``supports_image_type_<format>`` true exactly for the image disk
        formats it boots (``image_formats``), so nova's scheduler sends no
        other image here.
        """
        caps = dict(cls.capabilities,
                    has_imagecache=disk_dvr.capabilities['has_imagecache'])
        formats = disk_dvr.image_formats
        for key in caps:
            if key.startswith(_IMAGE_TYPE_CAP):
                caps[key] = key[len(_IMAGE_TYPE_CAP):] in formats
        return caps

    def cleanup_host(self, host):
        """Stop the event listener and NVRAM saving (nova-compute stops)."""
        if self.adapter is not None:
            pvm_event.stop_listener(self, self.event_handler)
        self.event_handler = None
        nvram.stop(self.nvram_mgr)

    # -- host (lifecycle helper) ---------------------------------------------

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        """VCPU, MEMORY_MB and DISK_GB (nova's ratios and reserved)."""
        # The resource tracker has just refreshed host_wrapper through
        # get_available_resource; don't read it again.
        res = pvm_host.build_host_resource(self.host_wrapper, nodename,
                                           self.disk_dvr)
        inv = provider_tree.data(nodename).inventory
        ratios = self._get_allocation_ratios(inv)
        reserved = {'VCPU': CONF.reserved_host_cpus,
                    'MEMORY_MB': CONF.reserved_host_memory_mb,
                    'DISK_GB': self._get_reserved_host_disk_gb_from_config()}
        provider_tree.update_inventory(
            nodename, pvm_host.inventory(res, ratios, reserved))

    def get_host_ip_addr(self):
        return CONF.my_ip

    def get_host_uptime(self):
        return pvm_host.uptime()

    # -- instances (lifecycle helper) ----------------------------------------

    def list_instances(self):
        """Names of the client partitions (state_cache: 0 or 1 GET)."""
        return [p.get('PartitionName') for p in
                pvm_state.partitions(self).values()]

    def list_instance_uuids(self):
        """UUIDs of nova instances (deleted ones too) with a partition here.

        nova-compute calls this at start-up (a new host with instances
        refuses to start) and to find instances to clean up.  A partition
        UUID maps back to two candidate instance UUIDs and a host may hold
        partitions nova never created, so nova's database decides.  At most
        one GET (state_cache) and one database query.
        """
        candidates = [uuid for pvm_uuid in pvm_state.partitions(self)
                      for uuid in ids.instance_uuid_candidates(pvm_uuid)]
        if not candidates:
            return []
        ctx = nova_context.get_admin_context(read_deleted='yes')
        return [inst.uuid for inst in objects.InstanceList.get_by_filters(
            ctx, {'uuid': candidates}, expected_attrs=[])]

    def instance_exists(self, instance):
        return pvm_state.instance_exists(self, instance)

    def get_info(self, instance, use_cache=True):
        """Power state kept by the event feed (state_cache.py)."""
        return pvm_state.get_info(self, instance)

    def _vios_feed_task(self, volumes=False, exc_class=exc.PowerVMTaskFailed):
        """FeedTask over the active VIOSes for one flow's mappings.

        Concurrent flows' changes to a VIOS share one POST
        (vios_feed.FeedTask); without volumes it starts from the VIOSes this
        process kept (no GET).
        :raises exc_class: the VIOS feed cannot be read (nothing changed).
        """
        xag = [pvm_const.XAG.VIO_SMAP]
        if volumes:
            xag.append(pvm_const.XAG.VIO_FMAP)
            # The FC connectors also read the physical ports and hdisks.
            xag = sorted(set(xag) | set(volume_dvr.all_min_xags()))
        try:
            return vios_feed.FeedTask.build(self.adapter, xag,
                                            reuse=not volumes)
        except pvm_exc.Error as e:
            raise exc_class(task='read_vios_feed', reason=str(e)) from e

    @pvm_state.changes_partition
    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        """Create and start the instance's partition.

        One linear flow: create partition, plug VIFs, boot disk (from the
        image, or volumes), config drive, VIOS mappings, power on.  On
        failure every completed step is reverted and the raised nova
        exception names the failed step.

        :raises InvalidFlavorExtraSpec, ComputeResourcesUnavailable (a
            flavor larger than the managed system), IBMiNotSupported: before
            anything is created.
        """
        vm.refuse_ibmi(instance, image_meta)
        # Validates every powervm: extra spec; no REST mutation yet.
        lpar_w = vm.build_lpar(self.adapter, self.host_wrapper, instance)
        pvm_host.check_fits(self.host_wrapper, lpar_w, instance)
        boot_from_volume = self._is_booted_from_volume(block_device_info)
        if not boot_from_volume:
            self.disk_dvr.check_image(image_meta)
        bdms = driver.block_device_info_get_mapping(block_device_info)
        flow = tf_lf.Flow('spawn_%s' % instance.uuid)
        flow.add(tf_vm.Create(self.adapter, self.host_wrapper, instance,
                              lpar_w=lpar_w, nvram_mgr=self.nvram_mgr))
        flow.add(tf_net.PlugVifs(self.virtapi, self.adapter, instance,
                                 network_info, new_partition=True))
        flow.add(*tf_net.plug_mgmt_vif(self.adapter, instance))
        stg_ftsk = self._vios_feed_task(volumes=bool(bdms),
                                        exc_class=exc.SpawnTaskFailed)
        if not boot_from_volume:
            driver_rebuild.add_boot_disk(self, flow, context, instance,
                                         image_meta, stg_ftsk)
        if bdms:
            driver_volume.add_connect_tasks(self, flow, instance,
                                            block_device_info, stg_ftsk)
        if configdrive.required_by(instance):
            flow.add(tf_media.CreateAndConnectCfgDrive(
                self.adapter, instance, injected_files, network_info,
                stg_ftsk, admin_pass=admin_password))
        flow.add(stg_ftsk)
        if power_on:
            flow.add(tf_vm.PowerOn(self.adapter, instance))
        driver_rebuild.run_spawn(self, instance, flow, stg_ftsk)

    @pvm_state.changes_partition
    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        """Power off and remove the partition and what it used.

        A partition already gone is success; a snapshot in progress is
        stopped first (snapshot_cancel).  A reverted resize keeps its
        partition (same host) or shared disk (see driver_move).
        """
        if driver_move.same_host_revert(context, instance):
            return
        snapshot_cancel.cancel(instance)
        destroy_disks = destroy_disks and not driver_move.keep_disks(
            self, instance)
        try:
            lpar_w = vm.get_instance_wrapper(self.adapter, instance)
        except nova_exc.InstanceNotFound:
            self._destroy_leftovers(instance, network_info, destroy_disks)
            return
        except pvm_exc.Error as e:
            raise exc.DestroyTaskFailed(task='read_partition',
                                        reason=str(e)) from e
        # Migrating, suspended, ...: the DELETE would be refused at the end.
        power.check_deletable(lpar_w, instance)
        bdms = driver.block_device_info_get_mapping(block_device_info)
        flow = tf_lf.Flow('destroy_%s' % instance.uuid)
        # Hard power off when the disks go away anyway; a partition that is
        # off is skipped.  The DELETE closes an open virtual terminal.
        flow.add(tf_vm.PowerOff(self.adapter, instance,
                                force_immediate=destroy_disks))
        stg_ftsk = self._vios_feed_task(
            volumes=True, exc_class=exc.DestroyTaskFailed) if bdms else None
        if configdrive.required_by(instance):
            flow.add(tf_media.DeleteVOpt(self.adapter, instance,
                                         stg_ftsk=stg_ftsk))
        if bdms:
            driver_volume.add_disconnect_tasks(self, flow, instance,
                                               block_device_info, stg_ftsk)
        if stg_ftsk is not None:
            flow.add(stg_ftsk)
        flow.add(tf_stg.DetachDisk(self.disk_dvr, instance,
                                     disk_types=_ALL_DISKS, with_mgmt=True))
        if destroy_disks:
            flow.add(tf_stg.DeleteDisk(self.disk_dvr))
        # The partition's own adapters go with it (next task).
        flow.add(*tf_net.unplug_vifs(self.adapter, instance, network_info,
                                     partition_deleted=True))
        flow.add(tf_vm.Delete(self.adapter, instance, self.nvram_mgr))
        flow.add(tf_net.ReleaseSeaVlans(self.adapter, instance, network_info))
        try:
            tf_base.run(flow, instance=instance,
                        store={'lpar_wrap': lpar_w},
                        exc_class=exc.DestroyTaskFailed)
        except nova_exc.InstanceNotFound:
            LOG.warning('Partition vanished during destroy.',
                        instance=instance)
        # Its console (if any) went with it.
        console.forget(lpar_w.uuid)
        driver_rebuild.destroyed(self, instance)

    def _destroy_leftovers(self, instance, network_info, destroy_disks):
        """Remove what a gone partition left: boot disk, config drive media,
        NovaLink trunk adapters (ovs), SEA VLANs (its adapters went with it).
        """
        LOG.info('Partition already gone; removing its leftovers.',
                 instance=instance)
        flow = tf_lf.Flow('destroy_leftovers_%s' % instance.uuid)
        if configdrive.required_by(instance):
            flow.add(tf_media.DeleteVOpt(self.adapter, instance))
        flow.add(tf_stg.DetachDisk(self.disk_dvr, instance,
                                     disk_types=_ALL_DISKS, with_mgmt=True))
        if destroy_disks:
            flow.add(tf_stg.DeleteDisk(self.disk_dvr))
        flow.add(*tf_net.unplug_vifs(self.adapter, instance, network_info,
                                     partition_deleted=True),
                 tf_vm.ForgetNvram(self.nvram_mgr, instance),
                 tf_net.ReleaseSeaVlans(self.adapter, instance, network_info))
        tf_base.run(flow, instance=instance, exc_class=exc.DestroyTaskFailed)
        driver_rebuild.destroyed(self, instance)

    def plug_vifs(self, instance, network_info):
        """Plug the VIFs missing on the instance's partition.

        nova calls this at start-up (e.g. after a host reboot) for each
        instance of the host.  Adapters already on the partition are left
        alone; missing ones, and the RMC management adapter, are created
        (and removed again if a later one fails).  An instance without a
        partition is left to nova's power state sync.  Two GETs when nothing
        is missing.

        :raises VirtualInterfacePlugException: invalid VIF, or the REST
            failure (nova then sets the instance to ERROR).
        """
        try:
            lpar_w = vm.get_instance_wrapper(self.adapter, instance)
        except nova_exc.InstanceNotFound:
            LOG.warning('The instance has no partition; no VIFs to plug.',
                        instance=instance)
            return
        except pvm_exc.Error as e:
            raise exc.VifReplugFailed(task='read_partition',
                                      reason=str(e)) from e
        flow = tf_lf.Flow('plug_vifs_%s' % instance.uuid)
        flow.add(tf_net.PlugVifs(self.virtapi, self.adapter, instance,
                                 network_info),
                 *tf_net.plug_mgmt_vif(self.adapter, instance))
        driver_rebuild.record(self, instance, tf_base.run(
            flow, instance=instance, store={'lpar_wrap': lpar_w},
            exc_class=exc.VifReplugFailed))

    def attach_interface(self, context, instance, image_meta, vif):
        """Add a network adapter for ``vif`` (partition running or off).

        Waits for Neutron's network-vif-plugged event of a port not yet
        active, as spawn does.  A failure removes what was created.

        :raises VifTypeNotSupported, VifInvalid: before any change.
        :raises InterfaceAttachFailed: the partition cannot take the adapter
            now (running without an active RMC connection), or a step
            failed (the message names it).
        """
        vif_mod.validate(instance, vif)
        flow = tf_lf.Flow('attach_interface_%s' % instance.uuid)
        flow.add(tf_vm.Get(self.adapter, instance),
                 tf_net.CheckIoModifiable(instance),
                 tf_net.PlugVifs(self.virtapi, self.adapter, instance, [vif],
                                 hotplug=True))
        driver_rebuild.record(self, instance, tf_base.run(
            flow, instance=instance, exc_class=functools.partial(
                exc.InterfaceAttachTaskFailed, instance_uuid=instance.uuid)))

    def detach_interface(self, context, instance, vif):
        """Remove the network adapter of ``vif`` (and its trunk, ovs).

        An adapter that is already gone is success.

        :raises InterfaceDetachFailed: the partition cannot give up the
            adapter now, or a step failed.
        """
        flow = tf_lf.Flow('detach_interface_%s' % instance.uuid)
        flow.add(tf_vm.Get(self.adapter, instance),
                 tf_net.CheckIoModifiable(instance),
                 tf_net.UnplugVif(self.adapter, instance, vif))
        driver_rebuild.record(self, instance, tf_base.run(
            flow, instance=instance, exc_class=functools.partial(
                exc.InterfaceDetachTaskFailed, instance_uuid=instance.uuid)))

    def get_vnc_console(self, context, instance):
        """VNC console through the partition's virtual terminal.

        See console.py.  :raises InstanceNotFound: no partition (nothing
        opened).
        """
        return console.open_vnc(self.adapter, instance)

    # Rebuild and evacuate (driver_rebuild.py; nova's default rebuild).

    def instance_on_disk(self, instance):
        return driver_rebuild.instance_on_disk(self, instance)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        """Nothing is left after destroy; nothing to clean up."""

    @pvm_state.changes_partition
    def power_off(self, instance, timeout=0, retry_interval=0):
        """Progressive shutdown (OS, then VSP normal, then hard), the OS
        given ``timeout`` seconds; hard at once when ``timeout`` is 0.

        A partition that is off or cannot be stopped (migrating, suspended,
        ...) is left alone.  ``retry_interval`` does not apply: PowerVM's
        shutdown job keeps waiting for the OS rather than re-signalling it.
        """
        power.power_off(self.adapter, instance, force_immediate=not timeout,
                        timeout=timeout or None)

    @pvm_state.changes_partition
    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        power.power_on(self.adapter, instance)

    @pvm_state.changes_partition
    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        """Soft (progressive shutdown with restart) or hard restart."""
        power.reboot(self.adapter, instance, reboot_type == 'HARD')

    @pvm_state.changes_partition
    def resume_state_on_host_boot(self, context, instance, network_info,
                                  block_device_info=None):
        """Start the partition if nova expects the instance running.

        nova-compute calls this at start-up
        (``[DEFAULT] resume_guests_state_on_host_boot``) for instances whose
        recorded power state is running but whose partition is not.  Only a
        partition that is off is started; anything else is left alone.
        """
        power.resume_on_host_boot(self.adapter, instance)

    def manage_image_cache(self, context, all_instances):
        """Remove cached images that no instance of this host uses.

        nova calls this every ``[DEFAULT] image_cache_manager_interval``
        when the disk driver caches images (``has_imagecache``).
        """
        self.disk_dvr.manage_image_cache(context, all_instances)

    # Snapshot (SSP+snapshot helper).

    def snapshot(self, context, instance, image_id, update_task_state):
        """Upload the instance's boot disk as the data of image ``image_id``.

        The boot disk is mapped to the management partition, streamed to
        the image service and unmapped (also on failure, or when destroy
        stops it: SnapshotCancelled).  REST: a quick GET of the partition's
        state, one VIOS feed GET, one POST to map, one POST to unmap.

        :raises InstanceNotFound: no partition.  InstanceNotRunning: its
            partition is migrating or not available.
        """
        if not self.disk_dvr.capabilities.get('snapshot'):
            raise nova_exc.NotSupportedWithOption(
                operation='snapshot',
                option='[powervm] disk_driver=%s' % CONF.powervm.disk_driver)
        # nova's contract: InstanceNotFound / InstanceNotRunning, before
        # anything is mapped.
        power.check_snapshot_state(self.adapter, instance)
        with snapshot_cancel.tracking(instance) as cancelled:
            tf_base.run(tf_img.snapshot_flow(
                self.adapter, self.disk_dvr, context, instance, image_id,
                update_task_state, cancelled), instance=instance)

    # Rescue (driver_rescue.py).

    @pvm_state.changes_partition
    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info=None):
        """Boot the partition from a disk of the rescue image.

        The boot disk stays attached; the partition starts in SMS boot
        mode.  ``rescue_password`` is not injected.  Reverted on failure.

        :raises InstanceNotRescuable: the partition is neither stopped nor
            running, or the root disk is a volume (nothing changed).
        """
        driver_rescue.rescue(
            self, context, instance, image_meta,
            boot_from_volume=self._is_booted_from_volume(block_device_info))

    @pvm_state.changes_partition
    def unrescue(self, context, instance):
        """Remove the rescue disk; boot the original disk."""
        driver_rescue.unrescue(self, instance)

    # Cinder volumes (driver_volume.py).

    def get_volume_connector(self, instance):
        """What Cinder needs to export a volume to this host."""
        return driver_volume.connector(self, instance)

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        """Connect a Cinder volume to the instance (undone on failure)."""
        driver_volume.attach(self, connection_info, instance, encryption)

    def detach_volume(self, context, connection_info, instance, mountpoint,
                      encryption=None):
        """Disconnect a Cinder volume (connected back if it fails)."""
        driver_volume.detach(self, context, connection_info, instance)

    def extend_volume(self, context, connection_info, instance,
                      requested_size):
        """Make the instance see the volume's new size."""
        driver_volume.extend(self, connection_info, instance)

    @staticmethod
    def _is_booted_from_volume(block_device_info):
        """Whether the root disk is a Cinder volume."""
        return any(bdm.get('boot_index') == 0 for bdm in
                   driver.block_device_info_get_mapping(block_device_info))
