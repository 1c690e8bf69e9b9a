"""What the target host sets up for a live migration, and undoes after one
that failed.

PowerVM's Migrate job needs, on the target: the source NovaLink's SSH
public key among its console's authorized keys (the source logs in over
SSH), and a virtual switch of the same name for each of the partition's
network adapters (the RMC adapter's ``MGMTSWITCH``, which NovaLink creates
at installation and the driver creates when missing).  ``prepare`` does
both in ``pre_live_migration`` and remembers what it set out to create
(before the request: a change made whose answer was lost is undone too);
``release`` removes it again after a failed migration, unless another
migration prepared on this host is still under way (it then inherits what
is left).  The switch goes only while nothing uses it (an adapter on it,
or a spawn putting one on it: ``host_net.delete_unused_vswitch``).  After
a successful migration the key and the switch stay (the switch carries the
partition's adapter), also for the migrations still under way.

Every removal is tried twice (``best_effort``): a failed or stuck
migration must leave this host as it was without any step run again.

The bookkeeping is kept by the target's nova-compute process (where
``pre_live_migration`` and ``rollback_live_migration_at_destination`` both
run) and, in case it restarts in between, in the migrate data: nova hands
``pre_live_migration``'s back to the roll-back.  NovaLink cannot tell: its
authorized keys and switches do not say who added them.  After a restart
the process knows only the migrations prepared since, so a migration
prepared before it that is still under way inherits nothing.
"""
import functools
import threading

from oslo_log import log as logging
from pypowervm.utils import transaction as pvm_trans
from pypowervm.wrappers import management_console as pvm_mc

from nova_powervm.virt.powervm import host_net
from nova_powervm.virt.powervm import retry
from nova_powervm.virt.powervm import vif as vif_mod

LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
ATTEMPTS = 2


def best_effort(what, instance, func, *args, **kwargs):
    """``func(*args, **kwargs)`` (an idempotent clean-up), tried again
    once after a failure; a second failure is logged, not raised.

    :return: what ``func`` returned, or None after two failures.
    """
    def failed(e, left):
        if left:
            LOG.warning('Live migration clean-up: %(what)s failed '
                        '(%(err)s); trying again.', {'what': what, 'err': e},
                        instance=instance)
        else:
            LOG.exception('Live migration clean-up: %(what)s failed '
                          '%(n)d times; it is left on this host.',
                          {'what': what, 'n': ATTEMPTS}, instance=instance)
    return retry.call(functools.partial(func, *args, **kwargs), ATTEMPTS,
                      Exception, failed)


def _prepared(drv):
    """{instance UUID: {'pub': the source's key, 'key': added it,
    'switch': created it}} of ``drv``.
    """
    if getattr(drv, '_lpm_prepared', None) is None:
        drv._lpm_prepared = {}
    return drv._lpm_prepared


def _console(adapter):
    return pvm_mc.ManagementConsole.wrap(
        adapter.read(pvm_mc.ManagementConsole.schema_type))[0]


def _authorize(adapter, key, mine):
    """Authorize ``key``; ``mine['key']`` is set before the update."""
    @pvm_trans.entry_transaction
    def _update(console_w):
        keys = list(console_w.ssh_authorized_keys)
        if key in keys:
            return
        mine['key'] = True
        console_w.ssh_authorized_keys = keys + [key]
        console_w.update()
    _update(_console(adapter))


def _unauthorize(adapter, key):
    @pvm_trans.entry_transaction
    def _update(console_w):
        keys = list(console_w.ssh_authorized_keys)
        if key in keys:
            console_w.ssh_authorized_keys = [k for k in keys if k != key]
            console_w.update()
    _update(_console(adapter))


def prepare(drv, instance, public_key, migrate_data=None):
    """Authorize ``public_key`` and make sure the RMC switch exists.

    :param migrate_data: gets what was created (PowerVMLiveMigrateData's
        ``dest_added_key``, ``dest_created_switch``).
    :raises pypowervm Error: the console or switch update failed (what
        this call created is then released again).
    """
    mine = {'pub': public_key, 'key': False, 'switch': False}
    with _LOCK:
        _prepared(drv)[instance.uuid] = mine
    try:
        if public_key:
            _authorize(drv.adapter, public_key, mine)
        name = vif_mod.SECURE_RMC_VSWITCH
        if host_net.get_vswitch(drv.adapter, name,
                                host_uuid=drv.host_uuid) is None:
            mine['switch'] = True
            host_net.get_vswitch(drv.adapter, name, create=True,
                                 host_uuid=drv.host_uuid)
    except Exception:
        release(drv, instance, failed=True)
        raise
    if migrate_data is not None:
        migrate_data.dest_added_key = mine['key']
        migrate_data.dest_created_switch = mine['switch']


def _from_migrate_data(instance, migrate_data):
    """What ``prepare`` created, as ``migrate_data`` recorded it (None:
    not recorded).
    """
    if migrate_data is None or not all(
            migrate_data.obj_attr_is_set(f) for f in
            ('dest_added_key', 'dest_created_switch')):
        return None
    LOG.info('This nova-compute has no record of preparing the live '
             'migration (restarted since?): the migrate data says it added '
             'the source\'s SSH key: %(key)s, created the switch: %(sw)s.',
             {'key': migrate_data.dest_added_key,
              'sw': migrate_data.dest_created_switch}, instance=instance)
    return {'pub': (migrate_data.public_key if
                    migrate_data.obj_attr_is_set('public_key') else None),
            'key': migrate_data.dest_added_key,
            'switch': migrate_data.dest_created_switch}


def release(drv, instance, failed, migrate_data=None):
    """The migration is over; after a failure remove what it created.

    Best effort: a removal is tried twice, a second failure logged.

    :param migrate_data: what ``prepare`` recorded in it, used when this
        process has no record (nova-compute restarted since).
    """
    with _LOCK:
        prepared = _prepared(drv)
        mine = prepared.pop(instance.uuid, None)
        if mine is None and failed:
            mine = _from_migrate_data(instance, migrate_data)
        if mine is None:
            return
        same = [o for o in prepared.values() if o['pub'] == mine['pub']]
        if not failed:
            # The key now serves a migrated partition: it stays.
            for other in same:
                other['key'] = False
            return
        # Still needed by a migration under way here: it inherits.
        if mine['key'] and same:
            same[0]['key'], mine['key'] = True, False
        if mine['switch'] and prepared:
            next(iter(prepared.values()))['switch'] = True
            mine['switch'] = False
    if mine['key']:
        best_effort('removing the source NovaLink\'s SSH key', instance,
                    _unauthorize, drv.adapter, mine['pub'])
    if mine['switch']:
        best_effort('removing the virtual switch %s' %
                    vif_mod.SECURE_RMC_VSWITCH, instance,
                    host_net.delete_unused_vswitch, drv.adapter,
                    vif_mod.SECURE_RMC_VSWITCH, host_uuid=drv.host_uuid)
