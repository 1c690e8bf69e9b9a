"""The NovaLink management partition (the partition nova-compute runs in).

Snapshot reads an instance's boot disk by mapping it to this partition and
finding the block device that appears: :func:`discover_vscsi_disk` is the one
place that touches the operating system's SCSI layer (on a simulated host the
disk appears as a link to a regular file, see ``[powervm]
mgmt_disk_by_id_dir``), and :func:`remove_block_dev` forgets the device again
before the mapping is removed.
"""
import glob
import os
import stat
import threading
import time

from oslo_log import log as logging
from pypowervm.tasks import partition as pvm_par

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import exception as exc

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# {(REST host, port): UUID}: one entry per NovaLink endpoint.
_MGMT_UUID = {}
_LOCK = threading.Lock()


def mgmt_uuid(adapter):
    """UUID of the management partition, read once per REST endpoint.

    The management partition does not change while the host runs, so one
    lookup serves every caller (VIF trunk adapters, disk mappings for
    snapshot, ...).  Keyed by endpoint: several compute services in one
    process (tests) each manage their own host.
    """
    key = (adapter.session.host, adapter.session.port)
    uuid = _MGMT_UUID.get(key)
    if uuid is None:
        with _LOCK:
            uuid = _MGMT_UUID.get(key)
            if uuid is None:
                uuid = pvm_par.get_mgmt_partition(adapter).uuid
                _MGMT_UUID[key] = uuid
                LOG.debug('Management partition is %s.', uuid)
    return uuid


def _reset_cache():
    """Forget the cached UUIDs (tests; a different REST server)."""
    _MGMT_UUID.clear()


# Linux numbers virtual I/O bus devices 0x30000000 + the adapter's slot.
_VIO_BUS_BASE = 0x30000000
_POLL_SECONDS = 0.25


def _write_sysfs(path, payload):
    """Write to a sysfs control file (needs root: through privsep)."""
    import nova.privsep.path
    nova.privsep.path.writefile(path, 'a', payload)


def _poll(check, timeout):
    """Call ``check`` until it returns a true value or ``timeout`` passes.

    :return: (last result, number of polls)
    """
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        polls += 1
        result = check()
        if result or time.monotonic() >= deadline:
            return result, polls
        time.sleep(_POLL_SECONDS)


def discover_vscsi_disk(mapping, scan_timeout=300):
    """The /dev path of a disk just mapped to the management partition.

    Rescans the virtual SCSI bus of the mapping's client adapter (if this
    partition has one) and waits for a link in ``[powervm]
    mgmt_disk_by_id_dir`` whose name ends with the disk's UDID.  The answer
    is what the link resolves to: a block device, or on a simulated host
    the regular file holding the disk's contents.

    :param mapping: the pypowervm VSCSIMapping (as the server returned it:
        client adapter slot and backing storage UDID filled in).
    :param scan_timeout: seconds to wait for the device.
    :raises NoDiskDiscoveryException: no such device appeared in time.
    :raises UniqueDiskDiscoveryException: several devices match.
    """
    bus = _VIO_BUS_BASE | mapping.client_adapter.lpar_slot_num
    udid = mapping.backing_storage.udid[-32:]
    for scan in glob.glob('/sys/bus/vio/devices/%x/host*/scsi_host/host*/'
                          'scan' % bus):
        LOG.debug('Rescanning vSCSI bus %s.', scan)
        _write_sysfs(scan, '- - -')
    pattern = os.path.join(CONF.powervm.mgmt_disk_by_id_dir, '*' + udid)
    found, _polls = _poll(lambda: glob.glob(pattern), scan_timeout)
    if not found:
        raise exc.NoDiskDiscoveryException(bus=bus, udid=udid,
                                           timeout=scan_timeout)
    if len(found) != 1:
        raise exc.UniqueDiskDiscoveryException(path_pattern=pattern,
                                               count=len(found))
    path = os.path.realpath(found[0])
    LOG.debug('Disk %(udid)s is %(path)s.', {'udid': udid, 'path': path})
    return path


def remove_block_dev(devpath, scan_timeout=10):
    """Make the management partition forget a block device.

    A path that is not a block device (e.g. a file standing in for one in
    tests) or that no longer exists needs nothing.  Failure to remove is
    logged, not raised: the caller still removes the mapping.
    """
    try:
        mode = os.stat(devpath).st_mode
    except OSError:
        return
    if not stat.S_ISBLK(mode):
        return
    name = os.path.basename(os.path.realpath(devpath))
    _write_sysfs('/sys/block/%s/device/delete' % name, '1')
    gone, _polls = _poll(lambda: not os.path.exists(devpath), scan_timeout)
    if not gone:
        LOG.warning('Block device %(dev)s still present %(t)d seconds after '
                    'its removal was requested.',
                    {'dev': devpath, 't': scan_timeout})
