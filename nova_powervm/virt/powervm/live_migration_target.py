"""What the target host sets up for a live migration, and undoes after one
that failed.

PowerVM's Migrate job needs, on the target: the source NovaLink's SSH
public key among its console's authorized keys (the source logs in over
SSH), and a virtual switch of the same name for each of the partition's
network adapters (the RMC adapter's ``MGMTSWITCH``, which NovaLink creates
at installation and the driver creates when missing).  ``prepare`` does
both in ``pre_live_migration`` and remembers what it created; ``release``
removes it again after a failed migration, unless another migration
prepared on this host is still under way (it then inherits what is left).
After a successful one the key and the switch stay (the switch carries the
partition's adapter).

The bookkeeping is per nova-compute process: ``pre_live_migration`` and
``rollback_live_migration_at_destination`` both run on the target's.
"""
import threading

from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.utils import transaction as pvm_trans
from pypowervm.wrappers import management_console as pvm_mc

from nova_powervm.virt.powervm import host_net
from nova_powervm.virt.powervm import vif as vif_mod

LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()


def _prepared(drv):
    """{instance UUID: {'key': key or None, 'switch': bool}} of ``drv``."""
    if getattr(drv, '_lpm_prepared', None) is None:
        drv._lpm_prepared = {}
    return drv._lpm_prepared


def _console(adapter):
    return pvm_mc.ManagementConsole.wrap(
        adapter.read(pvm_mc.ManagementConsole.schema_type))[0]


def _authorize(adapter, key):
    """Authorize ``key``; True if this call added it."""
    added = []

    @pvm_trans.entry_transaction
    def _update(console_w):
        keys = list(console_w.ssh_authorized_keys)
        if key in keys:
            return
        console_w.ssh_authorized_keys = keys + [key]
        console_w.update()
        added.append(True)
    _update(_console(adapter))
    return bool(added)


def _unauthorize(adapter, key):
    @pvm_trans.entry_transaction
    def _update(console_w):
        keys = list(console_w.ssh_authorized_keys)
        if key in keys:
            console_w.ssh_authorized_keys = [k for k in keys if k != key]
            console_w.update()
    _update(_console(adapter))


def prepare(drv, instance, public_key):
    """Authorize ``public_key`` and make sure the RMC switch exists.

    :raises pypowervm Error: the console or switch update failed (what
        this call created is then released again).
    """
    mine = {'key': None, 'switch': False}
    with _LOCK:
        _prepared(drv)[instance.uuid] = mine
    try:
        if public_key and _authorize(drv.adapter, public_key):
            mine['key'] = public_key
        name = vif_mod.SECURE_RMC_VSWITCH
        if host_net.get_vswitch(drv.adapter, name,
                                host_uuid=drv.host_uuid) is None:
            host_net.get_vswitch(drv.adapter, name, create=True,
                                 host_uuid=drv.host_uuid)
            mine['switch'] = True
    except Exception:
        release(drv, instance, failed=True)
        raise


def release(drv, instance, failed):
    """The migration is over; after a failure remove what it created.

    Best effort: a failed removal is logged.
    """
    with _LOCK:
        prepared = _prepared(drv)
        mine = prepared.pop(instance.uuid, None)
        if mine is None or not failed:
            return
        others = list(prepared.values())
        if others:
            # Still needed by a migration under way here: it inherits.
            others[0]['key'] = others[0]['key'] or mine['key']
            others[0]['switch'] = others[0]['switch'] or mine['switch']
            return
    if mine['key']:
        try:
            _unauthorize(drv.adapter, mine['key'])
        except pvm_exc.Error:
            LOG.exception('Removing the source NovaLink\'s SSH key after a '
                          'failed live migration failed.', instance=instance)
    if mine['switch']:
        try:
            vsw = host_net.get_vswitch(drv.adapter,
                                       vif_mod.SECURE_RMC_VSWITCH,
                                       host_uuid=drv.host_uuid)
            if vsw is not None:
                vsw.delete()
        except pvm_exc.Error:
            LOG.exception('Removing the virtual switch %s after a failed '
                          'live migration failed.',
                          vif_mod.SECURE_RMC_VSWITCH, instance=instance)
        finally:
            host_net.reset_cache(drv.adapter)
