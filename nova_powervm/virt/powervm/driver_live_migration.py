"""nova's live migration entry points of the driver (Live Partition Mobility).

Thin: the logic is in ``live_migration.py``.  nova calls, in order:
``check_can_live_migrate_destination`` (target), ``..._source`` (source),
``cleanup_live_migration_destination_check`` (target),
``pre_live_migration`` (target), ``live_migration`` (source, which calls
nova's ``post_method`` or ``recover_method``), then on success
``post_live_migration`` and ``post_live_migration_at_source`` (source) and
``post_live_migration_at_destination`` (target).
"""
from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc

from nova_powervm.i18n import _
from nova_powervm.virt.powervm import console
from nova_powervm.virt.powervm import driver_rebuild
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import live_migration as lpm
from nova_powervm.virt.powervm import state_cache as pvm_state

LOG = logging.getLogger(__name__)


class LiveMigrationForceCompleteNotSupported(nova_exc.NovaException):
    msg_fmt = _('A PowerVM live migration cannot be forced to complete: '
                'the partition moves at the speed PowerVM copies its '
                'memory; abort it instead.')


class LiveMigrationMixin(object):
    """nova's live migration methods for PowerVMDriver."""

    # Instances whose running migration live_migration_abort stopped.
    _lpm_aborted = None

    # -- checks (nothing changes) --------------------------------------------

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info, dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        """This host's description (PowerVMLiveMigrateData).

        :raises MigrationPreCheckError: the partition does not fit here,
            or a block migration was asked for.
        """
        return lpm.dest_check(self, instance, block_migration)

    def cleanup_live_migration_destination_check(self, context,
                                                 dest_check_data):
        """Nothing was created by the check."""

    def check_can_live_migrate_source(self, context, instance,
                                      dest_check_data, block_device_info=None):
        """Refusals on this host's data (PowerVM's MigrateValidate runs in
        ``live_migration``, once the target trusts this NovaLink's key).

        :raises MigrationPreCheckError: naming the reason.
        """
        return lpm.source_check(self, instance, dest_check_data,
                                block_device_info)

    # -- target --------------------------------------------------------------

    def pre_live_migration(self, context, instance, block_device_info,
                           network_info, disk_info, migrate_data):
        """Make the volumes reachable from this host's VIOSes."""
        pvm_state.remember(self, instance)
        migrate_data = lpm.pre_live_migration(self, instance,
                                              block_device_info, migrate_data)
        driver_rebuild.arriving(self, instance)
        return migrate_data

    def post_live_migration_at_destination(self, context, instance,
                                           network_info,
                                           block_migration=False,
                                           block_device_info=None):
        """Bridge the VLANs here, record NPIV ports and slots."""
        pvm_state.remember(self, instance)
        lpm.post_at_destination(self, instance, network_info,
                                block_device_info)
        driver_rebuild.record(self, instance)

    def rollback_live_migration_at_destination(self, context, instance,
                                               network_info,
                                               block_device_info,
                                               destroy_disks=True,
                                               migrate_data=None):
        """Undo ``pre_live_migration`` here (key, switch, hdisks)."""
        lpm.rollback_at_destination(self, instance, block_device_info,
                                    migrate_data)

    # -- source --------------------------------------------------------------

    def live_migration(self, context, instance, dest, post_method,
                       recover_method, block_migration=False,
                       migrate_data=None):
        """Move the partition; then nova's post or recover method.

        A refused, failed or aborted job leaves the partition on this
        host (recovered if stuck); the target undoes its preparation, the
        reason is an instance fault, then ``recover_method``.
        """
        if self._lpm_aborted is None:
            self._lpm_aborted = set()
        pvm_state.remember(self, instance)
        try:
            lpm.migrate(self, instance, migrate_data)
        except (pvm_exc.Error, nova_exc.NovaException) as e:
            aborted = instance.uuid in self._lpm_aborted
            LOG.error('Live migration to %(dest)s %(how)s: %(err)s',
                      {'dest': dest, 'err': e,
                       'how': 'aborted' if aborted else 'failed'},
                      instance=instance)
            where = lpm.where_after_failure(self, instance)
            if where == 'gone':
                # The job's answer was lost; the partition did move.
                post_method(context, instance, dest, block_migration,
                            migrate_data)
                return
            if not aborted:
                lpm.record_fault(context, instance, e)
            if where == 'source':
                lpm.rollback_target(context, instance, dest, migrate_data)
            recover_method(context, instance, dest, migrate_data,
                           migration_status='cancelled' if aborted
                           else 'error')
            return
        finally:
            self._lpm_aborted.discard(instance.uuid)
        post_method(context, instance, dest, block_migration, migrate_data)

    def live_migration_abort(self, instance):
        """Abort the running migration (MigrateAbort)."""
        if self._lpm_aborted is None:
            self._lpm_aborted = set()
        self._lpm_aborted.add(instance.uuid)
        lpm.abort(self, instance)

    def live_migration_force_complete(self, instance):
        raise LiveMigrationForceCompleteNotSupported()

    def post_live_migration(self, context, instance, block_device_info,
                            migrate_data=None):
        """Remove this host's hdisks of the volumes."""
        lpm.post_source_volumes(self, instance, block_device_info,
                                migrate_data)

    def post_live_migration_at_source(self, context, instance, network_info):
        """Unbridge VLANs no partition here uses; forget the partition."""
        pvm_state.remember(self, instance)
        lpm.post_at_source(self, instance, network_info)
        console.forget(ids.pvm_uuid(instance))
        driver_rebuild.left_host(self, instance)

    def rollback_live_migration_at_source(self, context, instance,
                                          migrate_data):
        """Recover a partition left migrating (MigrateRecover)."""
        lpm.where_after_failure(self, instance)
