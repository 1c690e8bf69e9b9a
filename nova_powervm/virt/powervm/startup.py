"""Driver start-up on a host that may itself be starting.

After a host reboot NovaLink's REST server answers (``[powervm] conn_tries``
covers the time before it does) while the Virtual I/O Servers are still
booting, and partitions removed while a VIOS was down leave stale storage
mappings behind on it.  :func:`prepare_host` runs at ``init_host``: refuse a
management console that is not NovaLink, wait for an active VIOS, read the
managed system, and scrub stale and orphan mappings with their storage.
It also warns about nova settings this driver cannot honour.
:func:`freeze_gc` ends ``init_host`` (``[powervm] gc_freeze``).
"""
import gc
import threading

from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.tasks import storage as pvm_stor

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import session as pvm_session

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

NOVALINK = 'PVM'
_FREEZE_LOCK = threading.Lock()
_frozen = False   # freeze_gc ran in this process


def prepare_host(adapter):
    """Checks and clean-up before the driver serves; the host's wrapper.

    :raises NotNovaLink: the REST server is an HMC.
    :raises NoActiveVios: no VIOS became active in time.
    :raises ManagedSystemNotFound: the server reports no managed system.
    """
    warn_conf()
    check_novalink(adapter)
    wait_for_vioses(adapter)
    host_w = pvm_session.get_host_wrapper(adapter)
    scrub(adapter, host_w.uuid)
    return host_w


def freeze_gc():
    """Move the objects alive now out of the cyclic GC (once per process).

    Each flow's TaskFlow engine is a reference cycle holding the wrappers
    the flow read (native lxml trees Python's GC thresholds do not count);
    with nova's start-up objects in the collected generations full
    collections are rare and those trees pile up (a soak of 150
    spawn/destroy cycles: +21 MiB RSS).  :return: whether it froze.
    """
    global _frozen
    if not CONF.powervm.gc_freeze:
        return False
    with _FREEZE_LOCK:
        if _frozen:
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
    LOG.debug('Froze %d start-up objects out of the cyclic garbage '
              'collector.', gc.get_freeze_count())
    return True


def warn_conf():
    """Warn about nova settings that make this driver's operations fail.

    A partition's client network adapters exist on the target host only
    once Live Partition Mobility has moved the partition, so the PowerVM SEA
    agent there cannot report its ports plugged before the move: with
    ``[compute] live_migration_wait_for_vif_plug`` on (nova's default) the
    source waits ``vif_plugging_timeout`` for an event that cannot come and
    the migration fails.
    """
    if (CONF.compute.live_migration_wait_for_vif_plug and
            CONF.vif_plugging_timeout):
        LOG.warning('[compute] live_migration_wait_for_vif_plug is on: live '
                    'migrations of instances with ports will wait '
                    '%d s for network-vif-plugged events that the target '
                    'cannot send before the partition has moved, and fail. '
                    'Set it to false on PowerVM compute hosts.',
                    CONF.vif_plugging_timeout)
        return True
    return False


def check_novalink(adapter):
    """Refuse a REST server that is not NovaLink (an HMC)."""
    mc_type = adapter.session.mc_type
    if mc_type != NOVALINK:
        host, _proto, port = pvm_session.endpoint()
        raise exc.NotNovaLink(host=host, port=port,
                              reason='it reports management console type %s'
                                     % mc_type)


def wait_for_vioses(adapter):
    """Wait up to vios_active_wait_timeout for an active VIOS.

    pypowervm's ``validate_vios_ready`` polls the VIOSes; it returns once
    every running VIOS has RMC, or at the timeout if at least one VIOS is
    active, and raises when none is.
    """
    timeout = CONF.powervm.vios_active_wait_timeout
    LOG.info('Waiting up to %d seconds for the Virtual I/O Servers to be '
             'active.', timeout)
    try:
        pvm_par.validate_vios_ready(adapter, max_wait_time=timeout)
    except pvm_exc.ViosNotAvailable:
        raise exc.NoActiveVios(timeout=timeout)


def scrub(adapter, host_uuid):
    """Remove stale and orphan VIOS mappings and the storage only they used.

    pypowervm's ComprehensiveScrub: mappings to partition IDs that no longer
    exist on the host, mappings without a client adapter, and the virtual
    disks and optical media left behind by those (never shared-pool LUs or
    physical volumes).  A failure is logged: it leaves garbage, not a host
    the driver cannot use.
    """
    LOG.info('Scrubbing stale storage mappings of managed system %s.',
             host_uuid)
    try:
        pvm_stor.ComprehensiveScrub(adapter, host_uuid=host_uuid).execute()
    except Exception as e:  # best effort; the driver still works
        LOG.warning('Start-up scrub of stale storage mappings failed; stale '
                    'mappings may remain until the next start: %s', e)
