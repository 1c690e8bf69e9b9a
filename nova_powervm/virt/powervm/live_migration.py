"""Live Partition Mobility: the logic of nova's live migration.

The destination describes itself (``dest_check``), the source refuses what
cannot move (``source_check``; PowerVM's validation runs with the job), the
destination prepares each volume (``pre_live_migration``: vSCSI hdisks
discovered on its VIOSes, NPIV physical ports chosen for the client
adapters' WWPNs), then the source closes the partition's virtual terminal
(PowerVM moves no partition with an open one) and runs pypowervm's
``migrate_lpar`` with the volumes' adapter mappings and calls nova back.
Every refusal is a ``MigrationPreCheckError`` naming the reason, raised
before the source partition is touched (PowerVM's validation: after its
terminal was closed).  A failed or aborted migration leaves the partition
running on the source (PowerVM rolls it back; a stuck one is recovered).

The VLANs of ``pvm_sea`` ports are bridged on the target's SEA after the
move (the job is told not to check them), so a failed migration leaves
nothing on the target.
"""
import contextlib

from nova.compute import rpcapi as compute_rpcapi
from nova.compute import utils as compute_utils
from nova import exception as nova_exc
from nova.virt import configdrive
from nova.virt import driver as nova_driver
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import management_console as pvm_console
from pypowervm.tasks import migration as pvm_mig
from pypowervm.tasks import partition as pvm_par
from pypowervm.tasks import vfc_mapper as tsk_vfc
from pypowervm.wrappers import base_partition as pvm_bp
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.objects import migrate_data as mig_obj
from nova_powervm.virt.powervm import console
from nova_powervm.virt.powervm import host as pvm_host
from nova_powervm.virt.powervm import live_migration_target as lpm_tgt
from nova_powervm.virt.powervm import scsi_maps
from nova_powervm.virt.powervm import vif as vif_mod
from nova_powervm.virt.powervm import vm
from nova_powervm.virt.powervm.volume import driver as volume_dvr

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# The NovaLink user the source's NovaLink logs in to the target's with.
DEST_USER_ID = 'wlp'
NOT_MIGRATING = 'Not_Migrating'
_MAP_XAGS = [pvm_const.XAG.VIO_SMAP, pvm_const.XAG.VIO_FMAP]


def _refuse(instance, reason):
    LOG.warning('Live migration refused: %s', reason, instance=instance)
    return nova_exc.MigrationPreCheckError(reason=reason)


@contextlib.contextmanager
def _rest(instance, what, exc_cls=nova_exc.MigrationPreCheckError):
    """A REST failure while doing ``what``: ``exc_cls`` naming it (nova
    keeps the instance as it was on a MigrationPreCheckError).
    """
    try:
        yield
    except pvm_exc.Error as e:
        LOG.warning('Live migration: %(what)s failed: %(err)s',
                    {'what': what, 'err': e}, instance=instance)
        raise exc_cls(reason=_('%(what)s failed: %(err)s') % {
            'what': what, 'err': e}) from e


def _mode(value):
    """A processor compatibility mode in one comparable form."""
    return str(value).lower().replace('_plus', '+')


def _check_capacity(host_w, instance):
    data = host_w.migration_data
    allowed = data.get('active_migrations_supported')
    running = data.get('active_migrations_in_progress') or 0
    if allowed and running >= allowed:
        raise _refuse(instance, _(
            'managed system %(sys)s runs %(run)d of its %(max)d concurrent '
            'live migrations') % {'sys': host_w.system_name, 'run': running,
                                  'max': allowed})


def _check_free(host_w, lpar_w, instance):
    """What the target has free now (PowerVM reserves it at the start)."""
    need = int(lpar_w.mem_config.desired)
    free = int(host_w.memory_free)
    if need > free:
        raise _refuse(instance, _(
            'target %(sys)s has %(free)d MB of memory free; the partition '
            'needs %(need)d MB') % {'sys': host_w.system_name, 'free': free,
                                     'need': need})
    procs = lpar_w.proc_config
    units = float(procs.dedicated_proc_cfg.desired if procs.has_dedicated
                  else procs.shared_proc_cfg.desired_units)
    if units > float(host_w.proc_units_avail):
        raise _refuse(instance, _(
            'target %(sys)s has %(free)s processor units free; the '
            'partition needs %(need)s') % {
            'sys': host_w.system_name, 'free': host_w.proc_units_avail,
            'need': units})


def _bdms(block_device_info):
    return nova_driver.block_device_info_get_mapping(block_device_info)


# -- destination ------------------------------------------------------------

def dest_check(drv, instance, block_migration=False):
    """The target's description for the source (a fresh system read).

    :raises MigrationPreCheckError: a block migration (disks are never
        copied), the partition does not fit or there is not enough memory
        or processor capacity free for it, or the system runs as many
        migrations as it allows.
    """
    if block_migration:
        raise _refuse(instance, _(
            'block migration: PowerVM does not copy disks; the boot disk '
            'must be in a shared storage pool or a volume'))
    with _rest(instance, _('reading the target system')):
        host_w = drv.host_wrapper.refresh()
    _check_capacity(host_w, instance)
    try:
        lpar_w = vm.build_lpar(drv.adapter, host_w, instance)
        pvm_host.check_fits(host_w, lpar_w, instance)
    except (nova_exc.ComputeResourcesUnavailable,
            nova_exc.InvalidInput) as e:
        raise _refuse(instance, _('target %(sys)s: %(err)s') % {
            'sys': host_w.system_name, 'err': e.format_message()})
    _check_free(host_w, lpar_w, instance)
    return mig_obj.PowerVMLiveMigrateData(
        dest_sys_name=host_w.system_name, dest_ip=CONF.my_ip,
        dest_user_id=DEST_USER_ID,
        dest_proc_compat=[_mode(m) for m in host_w.proc_compat_modes],
        dest_mem_region_mb=host_w.memory_region_size,
        dest_ssp_uuid=getattr(drv.disk_dvr, 'ssp_uuid', None),
        vol_data={})


def pre_live_migration(drv, instance, block_device_info, migrate_data):
    """Authorize the source's key, make each volume reachable from this
    host's VIOSes (``live_migration_target`` undoes it after a failure).

    Each connector records in ``migrate_data.vol_data`` where the source's
    adapters land here.

    :raises MigrationPreCheckError: a volume is not reachable here (what
        was discovered for it is removed again), or the key or switch
        could not be set up (nothing of it is left).
    """
    # The source's NovaLink logs in to this one over SSH with its key.
    key = (migrate_data.public_key if
           migrate_data.obj_attr_is_set('public_key') else None)
    try:
        lpm_tgt.prepare(drv, instance, key, migrate_data)
    except pvm_exc.Error as e:
        raise _refuse(instance, _(
            'authorizing the source NovaLink\'s SSH key or creating the '
            'switch %(sw)s on %(sys)s failed: %(err)s') % {
            'sw': vif_mod.SECURE_RMC_VSWITCH,
            'sys': drv.host_wrapper.system_name, 'err': e})
    try:
        return _prepare_volumes(drv, instance, block_device_info,
                                migrate_data)
    except Exception:
        lpm_tgt.release(drv, instance, failed=True)
        raise


def _prepare_volumes(drv, instance, block_device_info, migrate_data):
    """Each volume's preparation; after a failure the volumes prepared
    before it are disconnected again (nova calls nothing more here).
    """
    if 'vol_data' not in migrate_data or migrate_data.vol_data is None:
        migrate_data.vol_data = {}
    vol_data = dict(migrate_data.vol_data)
    done = []
    for bdm in _bdms(block_device_info):
        vol_drv = volume_dvr.build_volume_driver(
            drv.adapter, drv.host_uuid, instance, bdm['connection_info'])
        try:
            vol_drv.pre_live_migration_on_destination(vol_data)
        except Exception as e:
            _disconnect(drv, instance, done)
            reason = (e.format_message() if isinstance(
                e, nova_exc.NovaException) else str(e))
            raise _refuse(instance, _(
                'volume %(vol)s cannot be reached from %(sys)s: %(err)s') % {
                'vol': vol_drv.volume_id,
                'sys': drv.host_wrapper.system_name, 'err': reason}) from e
        done.append(bdm)
    migrate_data.vol_data = vol_data
    return migrate_data


def post_at_destination(drv, instance, network_info, block_device_info):
    """The partition arrived: bridge its VLANs, record its NPIV ports."""
    lpm_tgt.release(drv, instance, failed=False)
    here = {'sys': drv.host_wrapper.system_name}
    for one in network_info or []:
        if one.get('type') == vif_mod.VIF_TYPE_PVM_SEA:
            with _rest(instance, _('bridging the VLAN of port %(port)s on '
                                   '%(sys)s') % dict(here, port=one.get('id')),
                       exc_cls=nova_exc.MigrationError):
                vif_mod.ensure_sea_vlan(drv.adapter, instance, one,
                                        host_uuid=drv.host_uuid)
    for bdm in _bdms(block_device_info):
        vol_drv = volume_dvr.build_volume_driver(
            drv.adapter, drv.host_uuid, instance, bdm['connection_info'])
        with _rest(instance, _('recording the ports of volume %(vol)s on '
                               '%(sys)s') % dict(here, vol=vol_drv.volume_id),
                   exc_cls=nova_exc.MigrationError):
            vol_drv.post_live_migration_at_destination()


def _disconnect(drv, instance, bdms):
    """Remove the volumes' hdisks (ports) here (best effort, each twice)."""
    for bdm in bdms:
        vol_drv = volume_dvr.build_volume_driver(
            drv.adapter, drv.host_uuid, instance, bdm['connection_info'])
        lpm_tgt.best_effort('disconnecting volume %s' % vol_drv.volume_id,
                            instance, vol_drv.disconnect_volume)


def rollback_at_destination(drv, instance, block_device_info,
                            migrate_data=None):
    """Remove what ``pre_live_migration`` prepared here (best effort;
    ``migrate_data``: what it returned).
    """
    lpm_tgt.release(drv, instance, failed=True, migrate_data=migrate_data)
    _disconnect(drv, instance, _bdms(block_device_info))


# -- source -----------------------------------------------------------------

def _check_partition(drv, instance, lpar_w, migrate_data):
    ready, why = lpar_w.can_lpm(drv.host_wrapper)
    if not ready:
        raise _refuse(instance, _('partition %(name)s: %(why)s') % {
            'name': lpar_w.name, 'why': why})
    if lpar_w.migration_state not in (None, NOT_MIGRATING):
        raise _refuse(instance, _('partition %(name)s is already in '
                                  'migration state %(st)s') % {
            'name': lpar_w.name, 'st': lpar_w.migration_state})
    mode = lpar_w.proc_compat_mode
    modes = migrate_data.dest_proc_compat
    if mode and modes and _mode(mode) not in modes:
        raise _refuse(instance, _(
            'processor compatibility mode %(mode)s of the partition is not '
            'one of %(modes)s of target %(sys)s') % {
            'mode': mode, 'modes': ', '.join(modes),
            'sys': migrate_data.dest_sys_name})
    src_mrs = drv.host_wrapper.memory_region_size
    dst_mrs = migrate_data.dest_mem_region_mb
    if src_mrs and dst_mrs and src_mrs != dst_mrs:
        raise _refuse(instance, _(
            'memory region size %(src)d MB differs from %(dst)d MB of '
            'target %(sys)s') % {'src': src_mrs, 'dst': dst_mrs,
                                 'sys': migrate_data.dest_sys_name})


def _check_storage(drv, instance, block_device_info, migrate_data):
    bdms = _bdms(block_device_info)
    bfv = any(b.get('boot_index') == 0 for b in bdms)
    if not bfv:
        if not drv.disk_dvr.capabilities.get('shared_storage'):
            raise _refuse(instance, _(
                'the boot disk is on storage of this host only ([powervm] '
                'disk_driver = %s); live migration needs a shared storage '
                'pool (ssp) or a boot volume') % CONF.powervm.disk_driver)
        ssp = getattr(drv.disk_dvr, 'ssp_uuid', None)
        if ssp != migrate_data.dest_ssp_uuid:
            raise _refuse(instance, _(
                'target %(sys)s is not a member of shared storage pool '
                '%(ssp)s of the boot disk') % {
                'sys': migrate_data.dest_sys_name, 'ssp': ssp})
    for bdm in bdms:
        info = bdm['connection_info']
        try:
            cls = volume_dvr.volume_driver_class(info)
        except nova_exc.VolumeDriverNotFound as e:
            raise _refuse(instance, e.format_message())
        if not cls.can_live_migrate():
            raise _refuse(instance, _(
                'volume %(vol)s is attached through %(type)s, which live '
                'migration cannot move') % {
                'vol': (info.get('data') or {}).get('volume_id') or
                info.get('serial'), 'type': cls.vol_type()})
    if configdrive.required_by(instance):
        raise _refuse(instance, _(
            'the instance has a config drive (virtual optical media on a '
            'VIOS of this host), which live migration cannot move'))


def _check_network(instance):
    for one in instance.get_network_info() or []:
        if one.get('type') != vif_mod.VIF_TYPE_PVM_SEA:
            raise _refuse(instance, _(
                'port %(port)s is of type %(type)s; only %(sea)s ports '
                'follow a live migration') % {
                'port': one.get('id'), 'type': one.get('type'),
                'sea': vif_mod.VIF_TYPE_PVM_SEA})


def _job_args(migrate_data):
    return dict(tgt_mgmt_svr=migrate_data.dest_ip,
                tgt_mgmt_usr=migrate_data.dest_user_id,
                vlan_check_override=True)


def source_check(drv, instance, migrate_data, block_device_info):
    """Refuse what cannot move (no change); note this NovaLink's SSH key.

    PowerVM's own validation runs at the start of the Migrate job: it
    needs the target to have authorized the key and, for vSCSI volumes,
    discovered the hdisks, both done in ``pre_live_migration``.

    :raises MigrationPreCheckError: naming the reason.
    """
    _check_storage(drv, instance, block_device_info, migrate_data)
    _check_network(instance)
    _check_capacity(drv.host_wrapper, instance)
    try:
        with _rest(instance, _('reading the partition')):
            lpar_w = vm.get_instance_wrapper(drv.adapter, instance)
    except nova_exc.InstanceNotFound:
        raise _refuse(instance, _('the instance has no partition'))
    _check_partition(drv, instance, lpar_w, migrate_data)
    with _rest(instance, _('reading this NovaLink\'s SSH public key')):
        migrate_data.public_key = pvm_console.get_public_key(drv.adapter)
    return migrate_data


def adapter_mappings(vios_wraps, lpar_uuid, vol_data):
    """(vSCSI, virtual FC) mappings for pypowervm's migrate_lpar.

    vSCSI: ``slot//vios_id`` for each client adapter carrying hdisks, on a
    target VIOS that discovered all of them (``lpm_vscsi_key``), the
    source's paths spread over the target's VIOSes.  Virtual FC:
    ``slot//vios_id//port`` as the target chose for the client adapter's
    WWPNs (``lpm_vfc_key``).  Other adapters (shared pool LUs) are left to
    PowerVM.

    :raises MigrationPreCheckError: a disk has more paths than target
        VIOSes discovered it (a VIOS maps a disk to a partition once).
    """
    vscsi, vfc, used, taken = [], [], set(), set()
    for vios_w in vios_wraps:
        slots = {}
        for smap in scsi_maps.find_maps(vios_w, lpar_uuid):
            stg = smap.backing_storage
            if smap.client_adapter is None or \
                    not isinstance(stg, pvm_stor.PV):
                continue
            found = vol_data.get(volume_dvr.lpm_vscsi_key(stg.udid))
            slots.setdefault(smap.client_adapter.lpar_slot_num, {})[
                stg.udid] = set(found.split(',')) if found else set()
        for slot, disks in sorted(slots.items()):
            common = sorted(set.intersection(*disks.values()))
            if not common:
                continue
            free = [c for c in common
                    if not any((c, u) in taken for u in disks)]
            if not free:
                raise nova_exc.MigrationPreCheckError(reason=_(
                    'the disks of client adapter %(slot)d were discovered '
                    'only by target VIOS %(ids)s, which serves another path '
                    'to them already') % {'slot': slot,
                                          'ids': ', '.join(common)})
            pick = next((c for c in free if c not in used), free[0])
            used.add(pick)
            taken.update((pick, u) for u in disks)
            vscsi.append('%d//%s' % (slot, pick))
        for fmap in tsk_vfc.find_maps(vios_w.vfc_mappings, lpar_uuid):
            cli = fmap.client_adapter
            if cli is None or not cli.wwpns:
                continue
            target = vol_data.get(volume_dvr.lpm_vfc_key(cli.wwpns[0]))
            if target:
                vios_id, port = target.split('/', 1)
                vfc.append('%d//%s//%s' % (cli.lpar_slot_num, vios_id, port))
    return vscsi, vfc


def migrate(drv, instance, migrate_data):
    """MigrateValidate, then the Migrate job; returns when the partition
    is on the target.

    Right before them the partition's virtual terminal is closed (best
    effort; a console disconnects): PowerVM refuses to move a partition
    with an open one, and the API cannot tell cheaply whether one is
    (an operator's ``mkvterm`` counts too).

    :raises MigrationPreCheckError: PowerVM's validation refused (what
        only it can tell: mover service partitions, the storage seen from
        the target's VIOSes, NPIV logins, switches); nothing changed but
        the closed terminal.
    :raises pypowervm Error: the Migrate job failed (or was aborted).
    """
    lpar_w = vm.get_instance_wrapper(drv.adapter, instance)
    vol_data = (migrate_data.vol_data if 'vol_data' in migrate_data
                else None) or {}
    vscsi, vfc = [], []
    if vol_data:
        vioses = pvm_par.get_active_vioses(drv.adapter, xag=_MAP_XAGS)
        vscsi, vfc = adapter_mappings(vioses, lpar_w.uuid, vol_data)
    LOG.info('Migrating partition %(name)s to %(sys)s (vSCSI %(vscsi)s, '
             'virtual FC %(vfc)s).', {'name': lpar_w.name,
                                      'sys': migrate_data.dest_sys_name,
                                      'vscsi': vscsi, 'vfc': vfc},
             instance=instance)
    args = dict(_job_args(migrate_data), virtual_fc_mappings=vfc or None,
                virtual_scsi_mappings=vscsi or None)
    LOG.info('Closing the virtual terminal of partition %s, if open (its '
             'console disconnects): PowerVM does not move a partition with '
             'an open one.', lpar_w.name, instance=instance)
    console.close(drv.adapter, instance)
    try:
        pvm_mig.migrate_lpar(lpar_w, migrate_data.dest_sys_name,
                             validate_only=True, **args)
    except pvm_exc.JobRequestFailed as e:
        raise _refuse(instance, _(
            'PowerVM\'s validation of the move to %(sys)s: %(err)s') % {
            'sys': migrate_data.dest_sys_name, 'err': e})
    pvm_mig.migrate_lpar(lpar_w, migrate_data.dest_sys_name, **args)


def rollback_target(context, instance, dest, migrate_data):
    """Have the target undo ``pre_live_migration`` (nova asks only for
    its own drivers' migrate data); best effort.
    """
    try:
        compute_rpcapi.ComputeAPI().rollback_live_migration_at_destination(
            context, instance, dest, destroy_disks=False,
            migrate_data=migrate_data)
    except Exception:
        LOG.exception('Asking %s to undo its live migration preparation '
                      'failed.', dest, instance=instance)


def record_fault(context, instance, exc):
    """The failure's reason in the instance's faults (nova only logs it)."""
    if not isinstance(exc, nova_exc.NovaException):
        exc = nova_exc.MigrationError(reason=str(exc))
    try:
        compute_utils.add_instance_fault_from_exc(context, instance, exc)
    except Exception:
        LOG.exception('Recording the live migration fault failed.',
                      instance=instance)


def where_after_failure(drv, instance):
    """'source' (partition back here), 'gone' (not here) or 'stuck'.

    A partition still migrating is recovered (MigrateRecover) first.
    """
    try:
        lpar_w = vm.get_instance_wrapper(drv.adapter, instance)
    except nova_exc.InstanceNotFound:
        return 'gone'
    if (lpar_w.migration_state not in (None, NOT_MIGRATING) or
            lpar_w.state == pvm_bp.LPARState.MIGRATING_RUNNING):
        try:
            pvm_mig.migrate_recover(lpar_w, force=True)
        except pvm_exc.Error:
            LOG.exception('Recovering the failed migration failed.',
                          instance=instance)
            return 'stuck'
        return where_after_failure(drv, instance)
    return 'source'


def abort(drv, instance):
    """MigrateAbort on the source partition.

    :raises MigrationError: PowerVM refused (e.g. nothing to abort).
    """
    lpar_w = vm.get_instance_wrapper(drv.adapter, instance)
    try:
        pvm_mig.migrate_abort(lpar_w)
    except pvm_exc.Error as e:
        raise nova_exc.MigrationError(reason=_(
            'aborting the live migration of partition %(name)s failed: '
            '%(err)s') % {'name': lpar_w.name, 'err': e})


def post_at_source(drv, instance, network_info):
    """Unbridge the VLANs of the partition's ports that nothing here uses
    (best effort, each tried twice).
    """
    vif_mod.release_sea_vlans(drv.adapter, instance, network_info,
                              tries=lpm_tgt.ATTEMPTS)


def post_source_volumes(drv, instance, block_device_info, migrate_data):
    """The partition left: remove the source VIOSes' hdisks (best effort,
    each tried twice).
    """
    for bdm in _bdms(block_device_info):
        vol_drv = volume_dvr.build_volume_driver(
            drv.adapter, drv.host_uuid, instance, bdm['connection_info'])
        lpm_tgt.best_effort('removing the hdisks of volume %s' %
                            vol_drv.volume_id, instance,
                            vol_drv.post_live_migration_at_source)
