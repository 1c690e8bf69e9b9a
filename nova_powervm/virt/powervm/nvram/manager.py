"""Background saving of partition NVRAM to a store.

The event handler calls :meth:`NvramManager.changed` for each NVRAM event;
a small pool of worker threads reads the partition's NVRAM (one GET with
the NVRAM group) and writes it to the store.  Events for an instance
already queued are merged; unchanged NVRAM is not written again.  A failed
read or write is logged and tried again later (:data:`RETRY_DELAYS`), the
data kept in memory meanwhile, until it succeeds, a newer change or a
removal supersedes it, or the manager stops.  No lock is held across
instances while talking to the REST API or the store.  Nothing here raises
into an instance operation.
"""
import hashlib
import threading

from concurrent import futures
from lxml import etree
from oslo_log import log as logging
from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import logical_partition as pvm_lpar

LOG = logging.getLogger(__name__)

WORKERS = 2
# Seconds before each further try of a failed read, write or delete; the
# last one repeats.
RETRY_DELAYS = (2, 10, 30, 60, 300)


_ATOM_CONTENT = '{%s}content' % pvm_const.ATOM_NS
_NVRAM = 'PartitionNVRAM'


def read_nvram(adapter, pvm_uuid):
    """The NVRAM text of a partition (as ``LPAR.nvram``), or None.

    One GET of the partition with its NVRAM group through the adapter's
    session, of which only the NVRAM element is read: no partition wrapper
    is built (most of such a read's CPU otherwise; these reads come in
    bursts, one per partition a spawn or a boot changed).
    :raises HttpError: the GET failed (404: the partition is gone).
    :raises ValueError: the answer is not a partition entry.
    """
    path = pvm_adpt.Adapter.build_path(
        'uom', pvm_lpar.LPAR.schema_type, pvm_uuid,
        xag=[pvm_const.XAG.NVRAM])
    resp = adapter.session.request(
        'GET', path, headers={'Accept': 'application/atom+xml'})
    root = etree.fromstring(resp.body)
    content = root.find(_ATOM_CONTENT)
    if content is None or not len(content):
        raise ValueError('The answer to GET %s is not a partition entry'
                         % path)
    lpar = content[0]
    nvram = lpar.find('{%s}%s' % (etree.QName(lpar).namespace, _NVRAM))
    if nvram is None or nvram.text is None:
        return None
    return nvram.text.strip()


def _digest(data):
    return hashlib.sha256(data.encode('ascii')).hexdigest()


class NvramManager(object):
    """Saves, fetches and removes the NVRAM of instances (by UUID)."""

    def __init__(self, adapter, store, host=None, workers=WORKERS,
                 retry_delays=None):
        """:param host: the compute service's host name."""
        self.adapter = adapter
        self.store = store
        self.host = host
        self.retry_delays = retry_delays or RETRY_DELAYS
        # Guards the dicts below; never held across I/O.
        self._lock = threading.Lock()
        self._queued = {}     # instance uuid -> partition uuid to read
        self._version = {}    # instance uuid -> bumped by each new request
        self._unsaved = {}    # instance uuid -> NVRAM not yet in the store
        self._kept = {}       # instance uuid -> NVRAM read before a delete
        self._saved = {}      # instance uuid -> digest of what is stored
        self._timers = {}     # instance uuid -> pending retry
        self._inst_locks = {}  # instance uuid -> held while storing it
        self._stopped = False
        self._pool = futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix='pvm-nvram')

    # -- requests ----------------------------------------------------------

    def changed(self, pvm_uuid, inst_uuid):
        """The partition's NVRAM changed: save it in the background."""
        with self._lock:
            if self._stopped or inst_uuid in self._queued:
                return
            self._queued[inst_uuid] = pvm_uuid
            version = self._bump(inst_uuid)
        self._submit(self._save, inst_uuid, version, 0)

    def store_now(self, pvm_uuid, inst_uuid):
        """Read and save the NVRAM in the calling thread (before delete).

        A failed write is retried in the background from memory.
        """
        with self._lock:
            self._queued.pop(inst_uuid, None)
            version = self._bump(inst_uuid)
        try:
            data = self._read(pvm_uuid)
        except Exception as e:
            LOG.warning('Could not read the NVRAM of partition %(uuid)s to '
                        'save it: %(err)s', {'uuid': pvm_uuid, 'err': e})
            return
        if data is not None:
            with self._lock:
                self._kept[inst_uuid] = data
            self._write(inst_uuid, data, version, 0)

    def fetch(self, inst_uuid):
        """The instance's saved NVRAM, or None (store failures logged).

        What this manager read last (not yet stored, or read before the
        partition's delete) wins over the store's copy.
        """
        with self._lock:
            pending = (self._unsaved.get(inst_uuid) or
                       self._kept.pop(inst_uuid, None))
        if pending is not None:
            return pending
        try:
            return self.store.fetch(inst_uuid)
        except Exception as e:
            LOG.warning('Could not fetch the NVRAM of instance %(inst)s '
                        'from its store; the partition starts without it: '
                        '%(err)s', {'inst': inst_uuid, 'err': e})
            return None

    def remove(self, inst_uuid):
        """Forget the instance's NVRAM in the background (retried)."""
        with self._lock:
            self._queued.pop(inst_uuid, None)
            self._unsaved.pop(inst_uuid, None)
            self._kept.pop(inst_uuid, None)
            self._saved.pop(inst_uuid, None)
            version = self._bump(inst_uuid)
        self._submit(self._delete, inst_uuid, version, 0)

    def stop(self):
        """Drop pending work; running calls finish on their own."""
        with self._lock:
            self._stopped = True
            timers = list(self._timers.values())
            self._timers.clear()
            self._queued.clear()
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals ---------------------------------------------------------

    def _bump(self, inst_uuid):
        """New request version (caller holds _lock); cancels a retry."""
        timer = self._timers.pop(inst_uuid, None)
        if timer is not None:
            timer.cancel()
        version = self._version.get(inst_uuid, 0) + 1
        self._version[inst_uuid] = version
        return version

    def _current(self, inst_uuid, version):
        with self._lock:
            return (not self._stopped and
                    self._version.get(inst_uuid) == version)

    def _inst_lock(self, inst_uuid):
        with self._lock:
            return self._inst_locks.setdefault(inst_uuid, threading.Lock())

    def _submit(self, fn, *args):
        try:
            self._pool.submit(fn, *args)
        except RuntimeError:
            pass   # stopped

    def _retry(self, inst_uuid, version, attempt, fn, *args, requeue=None):
        """Run fn(inst_uuid, version, *args) later unless superseded.

        :param requeue: partition UUID to queue again (a read to retry),
            only together with the retry.
        """
        delays = self.retry_delays
        delay = delays[min(attempt, len(delays) - 1)]
        timer = threading.Timer(delay, self._submit,
                                args=(fn, inst_uuid, version) + args)
        timer.daemon = True
        with self._lock:
            if self._stopped or self._version.get(inst_uuid) != version:
                return
            if requeue is not None:
                self._queued.setdefault(inst_uuid, requeue)
            self._timers[inst_uuid] = timer
        timer.start()

    def _read(self, pvm_uuid):
        """The partition's NVRAM text; None when it is gone."""
        try:
            return read_nvram(self.adapter, pvm_uuid)
        except pvm_exc.HttpError as e:
            if e.response is not None and e.response.status == 404:
                return None
            raise

    def _save(self, inst_uuid, version, attempt):
        """Worker: read the partition's NVRAM and write it."""
        with self._lock:
            if self._stopped or self._version.get(inst_uuid) != version:
                return      # a newer request owns the queue entry
            pvm_uuid = self._queued.pop(inst_uuid, None)
        if pvm_uuid is None:
            return
        try:
            data = self._read(pvm_uuid)
        except Exception as e:
            LOG.warning('Could not read the NVRAM of partition %(uuid)s '
                        '(try %(n)d); trying again later: %(err)s',
                        {'uuid': pvm_uuid, 'n': attempt + 1, 'err': e})
            self._retry(inst_uuid, version, attempt, self._save, attempt + 1,
                        requeue=pvm_uuid)
            return
        if data is not None:
            self._write(inst_uuid, data, version, attempt)

    def _write(self, inst_uuid, data, version, attempt):
        digest = _digest(data)
        with self._inst_lock(inst_uuid):
            with self._lock:
                if self._saved.get(inst_uuid) == digest:
                    self._unsaved.pop(inst_uuid, None)
                    return
            if not self._current(inst_uuid, version):
                return
            try:
                self.store.store(inst_uuid, data)
            except Exception as e:
                LOG.warning('Could not save the NVRAM of instance %(inst)s '
                            '(try %(n)d); trying again later: %(err)s',
                            {'inst': inst_uuid, 'n': attempt + 1, 'err': e})
                with self._lock:
                    self._unsaved[inst_uuid] = data
                self._retry(inst_uuid, version, attempt, self._write_again,
                            data, attempt + 1)
                return
            with self._lock:
                self._saved[inst_uuid] = digest
                if self._version.get(inst_uuid) == version:
                    self._unsaved.pop(inst_uuid, None)
        LOG.debug('Saved the NVRAM of instance %s.', inst_uuid)

    def _write_again(self, inst_uuid, version, data, attempt):
        self._write(inst_uuid, data, version, attempt)

    def _delete(self, inst_uuid, version, attempt):
        with self._inst_lock(inst_uuid):
            if not self._current(inst_uuid, version):
                return
            try:
                self.store.delete(inst_uuid)
            except Exception as e:
                LOG.warning('Could not delete the NVRAM of instance '
                            '%(inst)s (try %(n)d); trying again later: '
                            '%(err)s',
                            {'inst': inst_uuid, 'n': attempt + 1, 'err': e})
                self._retry(inst_uuid, version, attempt, self._delete_again,
                            attempt + 1)
                return
        with self._lock:
            if self._version.get(inst_uuid) == version:
                self._inst_locks.pop(inst_uuid, None)
                self._version.pop(inst_uuid, None)

    def _delete_again(self, inst_uuid, version, attempt):
        self._delete(inst_uuid, version, attempt)
