"""Logical units of an SSP tier, found without reading every LU.

The REST API offers no search on a Tier's LogicalUnit children (pypowervm:
"search API does not support xag or CHILD"), so finding an LU by its UDID
means reading the tier's LU feed: one entry per LU of the whole cluster.
:class:`LUIndex` remembers the UUIDs of the tier's disk LUs from the feed
reads and the creates this process makes.  An LU it knows is read alone
(one GET of its entry) and used only if that entry still has its UDID; one
it does not know, or whose entry is gone or changed, is looked up in one
read of the feed (which renews the index).  So a destroy costs the same
requests and bytes however many LUs the pool has, once this process has
seen the LU (it created it, or a spawn, the image cache manager or a
look-up by name read the feed since).

Each feed read replaces the index (LUs deleted elsewhere drop out): it
holds at most the disk LUs of the last read plus those created since.
"""
import threading

from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import storage as pvm_stg

LOG = logging.getLogger(__name__)


class LUIndex(object):
    """UDID -> UUID of a tier's disk LUs, and LU reads through it."""

    def __init__(self, adapter, tier):
        self.adapter = adapter
        self.tier = tier
        self._lock = threading.Lock()
        self._uuids = {}

    def feed(self):
        """All LUs of the tier (one GET); renews the index."""
        lus = pvm_stg.LUEnt.get(self.adapter, parent=self.tier)
        found = {lu.udid: lu.uuid for lu in lus
                 if lu.udid and lu.uuid and
                 lu.lu_type == pvm_stg.LUType.DISK}
        with self._lock:
            self._uuids = found
        return lus

    def note(self, lu):
        """Remember a disk LU this process created (its create's answer)."""
        if lu.udid and lu.uuid and lu.lu_type == pvm_stg.LUType.DISK:
            with self._lock:
                self._uuids[lu.udid] = lu.uuid

    def forget(self, udid):
        with self._lock:
            self._uuids.pop(udid, None)

    def _read_one(self, udid):
        """The LU entry the index names for ``udid``, or None (one GET)."""
        with self._lock:
            uuid = self._uuids.get(udid)
        if uuid is None:
            return None
        try:
            lu = pvm_stg.LUEnt.get(self.adapter, uuid=uuid, parent=self.tier)
        except pvm_exc.HttpNotFound:
            # Gone, or known under another UUID now: the feed tells.
            self.forget(udid)
            return None
        if lu.udid != udid:
            self.forget(udid)
            return None
        return lu

    def by_udid(self, udids):
        """{udid: LUEnt} of the tier's LUs with these UDIDs (absent: left out).

        One GET per LU the index knows, plus one GET of the feed when some
        LU is not known (or not found under its remembered UUID).
        """
        found, missing = {}, []
        for udid in udids:
            lu = self._read_one(udid)
            if lu is None:
                missing.append(udid)
            else:
                found[udid] = lu
        if missing:
            missing = set(missing)
            for lu in self.feed():
                if lu.udid in missing:
                    found[lu.udid] = lu
        return found

    def remove_named(self, names):
        """Delete the LUs of these names (one GET; best effort).

        For LUs an image upload created though its answer was lost (the
        upload's names: no other LU has them).
        """
        if not names:
            return
        names = set(names)
        try:
            for lu in self.feed():
                if lu.name in names:
                    LOG.warning('Removing LU %s, whose creation failed '
                                'during an image upload.', lu.name)
                    lu.delete()
        except pvm_exc.Error:
            LOG.warning('LUs %s could not be removed; remove them manually.',
                        ', '.join(sorted(names)), exc_info=True)
