"""Stopping a snapshot whose instance is being destroyed.

nova lets an instance be deleted while its snapshot uploads; its compute
manager then deletes the unfinished image.  The snapshot keeps the boot
disk mapped to the management partition meanwhile, and NovaLink refuses to
delete a mapped disk (HTTP 409 "in use").  So destroy first calls
:func:`cancel`: the upload fails at its next read, the snapshot removes its
mapping as after any failure and raises ``SnapshotCancelled`` (an
``InstanceNotFound``, what nova expects then), and destroy waits for that,
bounded.  A mapping still there afterwards (the wait timed out, or a
nova-compute restart left it) is removed by destroy's own detach.

Per instance: one snapshot of an instance runs at a time (nova's task
state); nothing is shared or locked across instances.
"""
import contextlib
import threading

from oslo_log import log as logging

from nova_powervm.virt.powervm import exception as exc

LOG = logging.getLogger(__name__)

# A cancelled upload stops at its next read (one chunk); the snapshot then
# forgets the block device (at most 10 s) and removes its mapping (a POST).
WAIT_S = 60

# instance UUID -> _Snapshot of the snapshot in progress.
_RUNNING = {}


class _Snapshot(object):
    def __init__(self):
        self.cancelled = threading.Event()
        self.done = threading.Event()


@contextlib.contextmanager
def tracking(instance):
    """Register the instance's snapshot while the block runs.

    Yields its ``cancelled`` Event.  A failure after :func:`cancel` is
    raised as ``SnapshotCancelled``.
    """
    snap = _Snapshot()
    _RUNNING[instance.uuid] = snap
    try:
        yield snap.cancelled
    except Exception as e:
        if not snap.cancelled.is_set() or isinstance(
                e, exc.SnapshotCancelled):
            raise
        raise exc.SnapshotCancelled(instance_id=instance.uuid) from e
    finally:
        if _RUNNING.get(instance.uuid) is snap:
            del _RUNNING[instance.uuid]
        snap.done.set()


def check(cancelled, instance):
    """Raise SnapshotCancelled if ``cancelled`` (an Event) is set."""
    if cancelled is not None and cancelled.is_set():
        raise exc.SnapshotCancelled(instance_id=instance.uuid)


def cancel(instance, timeout=WAIT_S):
    """Stop the instance's snapshot in progress, if any, and wait for it.

    :return: False when the snapshot was still running after ``timeout``
        seconds (its mapping is then left to the caller), else True.
    """
    snap = _RUNNING.get(instance.uuid)
    if snap is None:
        return True
    LOG.info('Stopping the snapshot in progress: the instance is being '
             'deleted.', instance=instance)
    snap.cancelled.set()
    if snap.done.wait(timeout):
        return True
    LOG.warning('The snapshot in progress did not stop within %d seconds; '
                'its disk mapping is removed with the instance.', timeout,
                instance=instance)
    return False
