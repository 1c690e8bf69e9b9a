"""The NovaLink management partition (the partition nova-compute runs in)."""
import threading

from oslo_log import log as logging
from pypowervm.tasks import partition as pvm_par

LOG = logging.getLogger(__name__)

_MGMT_UUID = None
_LOCK = threading.Lock()


def mgmt_uuid(adapter):
    """UUID of the management partition, read once and cached.

    The management partition does not change while the host runs, so one
    lookup serves every caller (VIF trunk adapters, disk mappings for
    snapshot, ...).
    """
    global _MGMT_UUID
    if _MGMT_UUID is None:
        with _LOCK:
            if _MGMT_UUID is None:
                _MGMT_UUID = pvm_par.get_mgmt_partition(adapter).uuid
                LOG.debug('Management partition is %s.', _MGMT_UUID)
    return _MGMT_UUID


def _reset_cache():
    """Forget the cached UUID (tests; a different REST server)."""
    global _MGMT_UUID
    _MGMT_UUID = None
