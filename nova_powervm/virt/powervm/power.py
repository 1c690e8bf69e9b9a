"""Power a nova instance's partition on, off and around (pypowervm's API).

The partition's state decides what is sent: a partition that is off, or
held by another operation (migrating, suspended, not available), gets no
shutdown job; only a partition that is not activated gets a PowerOn.  Soft
shutdowns are pypowervm's progressive power-off (OS immediate, VSP normal,
VSP hard; IBM i: OS normal first).
"""
from nova.compute import power_state
from nova.compute import vm_states
from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power as pvm_pwr
from pypowervm.tasks import power_opts as pvm_popts
from pypowervm.wrappers import base_partition as pvm_bp

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import vm

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# PowerOff jobs can stop partitions in these states; in the others there is
# nothing to stop (off) or the partition is held by another operation
# (migration, suspend, hardware discovery) and the job would fail.
_STOPPABLE = frozenset((
    pvm_bp.LPARState.RUNNING, pvm_bp.LPARState.STARTING,
    pvm_bp.LPARState.OPEN_FIRMWARE, pvm_bp.LPARState.SHUTTING_DOWN,
    pvm_bp.LPARState.ERROR, pvm_bp.LPARState.RESUMING,
    pvm_bp.LPARState.SUSPENDING))
# A PowerOn job starts only these.
_STARTABLE = frozenset((pvm_bp.LPARState.NOT_ACTIVATED,))
# The snapshot cannot capture the disk of a partition in these states.
_NO_SNAPSHOT = frozenset((
    pvm_bp.LPARState.MIGRATING_RUNNING, pvm_bp.LPARState.MIGRATING_NOT_ACTIVE,
    pvm_bp.LPARState.NOT_AVAILBLE, pvm_bp.LPARState.HARDWARE_DISCOVERY,
    pvm_bp.LPARState.UNKNOWN.lower()))


def _state(part):
    """The partition's state, lower case (the API says 'Unknown')."""
    return (part.state or '').lower()


def _hard_stop(part, restart=False):
    """VSP hard (immediate) shutdown, or restart, in one job."""
    pvm_pwr.PowerOp.stop(
        part, opts=pvm_popts.PowerOffOpts().vsp_hard().restart(value=restart),
        timeout=CONF.pypowervm_job_request_timeout)


def _stop(part, hard, timeout, restart=False):
    """Stop (or restart) a partition.

    Hard at once, or pypowervm's progressive shutdown: OS immediate (IBM i:
    OS normal first; no RMC: VSP normal) given ``timeout`` seconds, then VSP
    normal, then VSP hard.
    """
    if hard:
        _hard_stop(part, restart=restart)
    else:
        pvm_pwr.power_off_progressive(part, restart=restart, timeout=timeout)


def power_on(adapter, instance, lpar_w=None, opts=None):
    """Power on the partition (one that is already on is left alone).

    :param lpar_w: a current wrapper of the partition, to save a GET.
    :param opts: pypowervm PowerOnOpts (default: normal boot).
    :raises InstancePowerOnFailure: the partition is in a state that cannot
        be started (named in the message; nothing sent), or the job failed.
    """
    part = lpar_w or vm.get_instance_wrapper(adapter, instance)
    if _state(part) in _STOPPABLE:
        LOG.debug('Partition is already on (%s).', part.state,
                  instance=instance)
        return
    if _state(part) not in _STARTABLE:
        raise nova_exc.InstancePowerOnFailure(
            reason=_('partition %(name)s is %(state)s; only a partition '
                     'that is not activated can be started') %
            {'name': part.name, 'state': part.state})
    try:
        pvm_pwr.PowerOp.start(part, opts=opts,
                              timeout=CONF.pypowervm_job_request_timeout)
    except (pvm_exc.VMPowerOnFailure, pvm_exc.VMPowerOnTimeout) as e:
        raise nova_exc.InstancePowerOnFailure(reason=str(e))


def power_off(adapter, instance, force_immediate=False, timeout=None,
              lpar_w=None):
    """Power off the partition; one that cannot be stopped is left alone.

    Partitions that are off, or in a state no shutdown job accepts
    (migrating, suspended, not available, ...), are skipped: no job is sent.

    :param force_immediate: hard (VSP immediate) shutdown at once.
        Otherwise pypowervm's progressive shutdown, the first (OS) attempt
        given ``timeout`` seconds.
    :param lpar_w: a current wrapper of the partition, to save a GET.
    :return: whether it was stopped (False: nothing to stop).
    :raises InstancePowerOffFailure: the partition could not be stopped.
    """
    part = lpar_w or vm.get_instance_wrapper(adapter, instance)
    if _state(part) not in _STOPPABLE:
        LOG.info('Partition is %s: nothing to power off.', part.state,
                 instance=instance)
        return False
    try:
        _stop(part, force_immediate,
              timeout or CONF.pypowervm_job_request_timeout)
    except (pvm_exc.VMPowerOffFailure, pvm_exc.VMPowerOffTimeout) as e:
        raise nova_exc.InstancePowerOffFailure(reason=str(e))
    return True


def reboot(adapter, instance, hard, timeout=None):
    """Restart the partition (power it on if it is off).

    :param timeout: seconds the soft restart's OS shutdown is given.
    :raises InstanceRebootFailure: the partition is in a state that can be
        neither restarted nor started (nothing sent), or the restart failed.
    """
    part = vm.get_instance_wrapper(adapter, instance)
    try:
        if _state(part) in _STARTABLE:
            pvm_pwr.PowerOp.start(
                part, timeout=CONF.pypowervm_job_request_timeout)
        elif _state(part) in _STOPPABLE:
            _stop(part, hard, timeout or CONF.pypowervm_job_request_timeout,
                  restart=True)
        else:
            raise nova_exc.InstanceRebootFailure(
                reason=_('partition %(name)s is %(state)s and cannot be '
                         'restarted') % {'name': part.name,
                                         'state': part.state})
    except (pvm_exc.VMPowerOffFailure, pvm_exc.VMPowerOffTimeout,
            pvm_exc.VMPowerOnFailure, pvm_exc.VMPowerOnTimeout) as e:
        raise nova_exc.InstanceRebootFailure(reason=str(e))


def resume_on_host_boot(adapter, instance):
    """Start the partition if nova expects it running and it is off.

    :returns: whether a PowerOn was sent.
    """
    if (instance.vm_state != vm_states.ACTIVE or
            instance.power_state != power_state.RUNNING):
        return False
    part = vm.get_instance_wrapper(adapter, instance)
    if _state(part) not in _STARTABLE:
        LOG.info('Partition is %s: not starting it.', part.state,
                 instance=instance)
        return False
    LOG.info('Starting the partition (it was running before the host '
             'restarted).', instance=instance)
    power_on(adapter, instance, lpar_w=part)
    return True


def check_deletable(part, instance):
    """Refuse to destroy a partition no flow step can bring to an end.

    A partition that is neither off nor stoppable (migrating, suspended,
    not available, ...) would be refused by the final DELETE, after its
    disks were gone; refuse it before anything is changed.

    :raises InstanceTerminationFailure: naming the partition's state.
    """
    if _state(part) in _STOPPABLE or _state(part) in _STARTABLE:
        return
    raise nova_exc.InstanceTerminationFailure(
        reason=_('partition %(name)s is %(state)s; it can be deleted only '
                 'once it is running or off again') %
        {'name': part.name, 'state': part.state})


def check_snapshot_state(adapter, instance):
    """Whether the partition's disk can be captured (one quick GET).

    A partition that is off or suspended can be captured too, as nova
    allows snapshots of stopped and suspended instances.

    :raises InstanceNotFound: the instance has no partition.
    :raises InstanceNotRunning: the partition is migrating, not available
        or in an unknown state.
    :raises PowerVMTaskFailed: the state could not be read.
    """
    try:
        state = vm.get_vm_qp(adapter, ids.pvm_uuid(instance),
                             'PartitionState')
    except nova_exc.InstanceNotFound:
        raise nova_exc.InstanceNotFound(instance_id=instance.uuid)
    except pvm_exc.Error as e:
        raise exc.PowerVMTaskFailed(task='read_partition_state',
                                    reason=str(e)) from e
    if (state or '').lower() in _NO_SNAPSHOT:
        LOG.warning('Partition is %s: cannot snapshot it.', state,
                    instance=instance)
        raise nova_exc.InstanceNotRunning(instance_id=instance.uuid)
