"""Partition NVRAM persistence (``[powervm] nvram_store``).

The partition's NVRAM (its firmware settings: boot list, ...) is saved
when the REST event feed reports it changed (a ``MODIFY_URI`` with detail
``NVRAM``; see ``event.py``) and given back to a partition recreated for
the same instance.  The public hooks, all of which log instead of raising:

* :func:`build_manager` (``init_host``) / :func:`stop`;
* :func:`restore_into`: before the partition is created (``tasks.vm.Create``,
  used by spawn and by every flow that recreates a partition: rebuild,
  evacuate, cold migration, unshelve), puts the saved NVRAM into the
  create request;
* :func:`before_delete` / :func:`after_delete` (``tasks.vm.Delete``):
  keep it when the instance lives on (rebuild, resize and migration,
  shelve, the source of an evacuation; saved once more first when it is
  recreated on this host), else remove it;
* :func:`save_now` (``tasks.vm.SaveNvram``): before a cold migration's
  target builds the new partition.
"""
from nova.compute import task_states
from nova.compute import vm_states
from oslo_log import log as logging

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm.nvram import local
from nova_powervm.virt.powervm.nvram import manager

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# Destroy with these task states keeps the NVRAM: the instance is
# recreated later (rebuild, resize/migration, shelve offload).
_KEEP_TASK_STATES = frozenset((
    task_states.REBUILDING, task_states.REBUILD_BLOCK_DEVICE_MAPPING,
    task_states.REBUILD_SPAWNING, task_states.RESIZE_PREP,
    task_states.RESIZE_MIGRATING, task_states.RESIZE_MIGRATED,
    task_states.RESIZE_FINISH, task_states.RESIZE_REVERTING,
    task_states.RESIZE_CONFIRMING, task_states.SHELVING,
    task_states.SHELVING_IMAGE_PENDING_UPLOAD,
    task_states.SHELVING_IMAGE_UPLOADING, task_states.SHELVING_OFFLOADING))
_KEEP_VM_STATES = frozenset((vm_states.RESIZED, vm_states.SHELVED,
                             vm_states.SHELVED_OFFLOADED))


def _swift_store():
    from nova_powervm.virt.powervm.nvram import swift
    for option in ('swift_auth_url', 'swift_password'):
        if not getattr(CONF.powervm, option):
            raise exc.NvramStoreNotConfigured(store='swift', option=option)
    return swift.SwiftNvramStore(CONF.powervm)


def build_manager(adapter, host):
    """The NvramManager of ``[powervm] nvram_store`` (None for "none").

    :param host: this compute service's host name (``init_host``'s).

    :raises NvramStoreNotConfigured: swift without its URL or password.
    """
    kind = CONF.powervm.nvram_store.lower()
    if kind == 'none':
        return None
    if kind == 'swift':
        store = _swift_store()
    else:
        store = local.LocalNvramStore(CONF.powervm.nvram_local_path)
    LOG.info('Partition NVRAM is kept in the %s store.', kind)
    return manager.NvramManager(adapter, store, host=host)


def stop(mgr):
    if mgr is not None:
        mgr.stop()


def restore_into(mgr, instance, lpar_w):
    """Put the instance's saved NVRAM into ``lpar_w`` (before its create).

    Nothing for a first boot (nothing can be saved yet) or without a store.
    """
    if mgr is None or instance.vm_state == vm_states.BUILDING:
        return
    data = mgr.fetch(instance.uuid)
    if data:
        lpar_w.nvram = data
        LOG.info('Restoring the saved NVRAM of the partition.',
                 instance=instance)


def keep_on_destroy(instance, host):
    """Whether the instance lives on after its partition on ``host`` goes.

    It does when it is being rebuilt, resized or migrated, or shelved, and
    when it is already on another host (the source of an evacuation).
    """
    return (instance.task_state in _KEEP_TASK_STATES or
            instance.vm_state in _KEEP_VM_STATES or
            instance.host not in (None, host))


def save_now(mgr, instance):
    """Save the partition's NVRAM now (e.g. before a migration)."""
    if mgr is not None:
        mgr.store_now(ids.pvm_uuid(instance), instance.uuid)


def before_delete(mgr, instance):
    """Save the NVRAM now if the instance will be recreated here.

    Not when it already lives on another host (its NVRAM is that host's
    partition's now).
    """
    if (mgr is not None and keep_on_destroy(instance, mgr.host) and
            instance.host in (None, mgr.host)):
        save_now(mgr, instance)


def after_delete(mgr, instance):
    """Remove the saved NVRAM unless the instance will be recreated."""
    if mgr is not None and not keep_on_destroy(instance, mgr.host):
        mgr.remove(instance.uuid)
