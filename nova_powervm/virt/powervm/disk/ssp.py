"""Ephemeral disks on a Shared Storage Pool (SSP).

Each image is uploaded once into an image logical unit (LU) of the pool's
default tier; every instance's boot disk is a thin linked clone of it.  The
pool is visible from every host of the cluster (shared storage: live
migration keeps the disk), and disks are mapped through every VIOS of this
host that is a cluster member.

Only this host's VIOSes are used: a cluster node counts when its VIOS link
names this host's ManagedSystem.  The node list is re-read at most every
``_NODES_CACHE_SECONDS`` (membership changes are seen without a restart).
Uploads go through an active VIOS of them (RMC up), not always the first.

Image LUs are named ``image_<image id>`` (``image.cached_image_name``);
concurrent spawns of the same image on this host serialize on a per-image
lock (one upload), and across hosts pypowervm's marker-LU protocol
(``cluster_ssp.get_or_upload_image_lu``) elects one uploader.

Image cache across hosts (the SSP's LU list is the only shared state; each
side writes its marker, then reads):

* a spawn creates a *clone marker* LU (``cln<8 hex>_<image key>``), then
  lists the LUs: if a *deletion marker* of the image is there it removes its
  own marker, waits and starts again; otherwise it clones (uploading first
  if the image is absent) and removes its marker;
* the cache manager, for an image LU with no clone, no upload marker and no
  clone marker, creates a deletion marker (``del<8 hex>_<image key>``),
  lists the LUs again and deletes the image only if still none of those
  exist; then removes its marker.

Whichever of the two wrote first, the other's read sees that marker: an
image is never removed between a spawn's look-up and its clone (the server
itself refuses removing an image that has clones).  A deletion marker older
than ``_DELETE_WAIT_SECONDS`` (its host died) is removed by the waiting
spawn; a stale clone marker only keeps its image cached.  Those reads list
every LU (REST has no search on a tier's LUs); a delete or extend of an
instance's LU reads that LU alone (``ssp_lus``).
"""
import hashlib
import threading
import time
import uuid

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import cluster_ssp as tsk_cs
from pypowervm.tasks import partition as tsk_par
from pypowervm.tasks import storage as tsk_stg
from pypowervm import util as pvm_u
from pypowervm.wrappers import cluster as pvm_clust
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm.disk import ssp_lus
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import image as pvm_image

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

IMAGE_LU_PREFIX = 'image_'
# pypowervm prefixes marker LUs with 'part' + 8 hex digits and shortens the
# image LU name to fit; names are computed the same way here.
_MARKER_PREFIX_LEN = 12
_IMAGE_LU_MAX_LEN = pvm_const.MaxLen.FILENAME_DEFAULT - _MARKER_PREFIX_LEN
# Seconds a pool read serves capacity and capacity_used together.
_SSP_CACHE_SECONDS = 5
# The node list (cluster membership) is re-read after this many seconds.
_NODES_CACHE_SECONDS = 60
# Cross-host image cache markers (see the module docstring).
_CLONE_MARK = 'cln'
_DELETE_MARK = 'del'
_MARKER_GB = 0.001
# A spawn waits this long for another host's image removal to finish.
_DELETE_WAIT_SECONDS = 60
_DELETE_POLL_SECONDS = 2


def _image_key(image_lu_name):
    """Short, name-independent key of an image LU (in marker names).

    Marker names must not contain the image LU's name, or pypowervm's
    upload protocol would take them for its own upload markers.
    """
    return hashlib.sha256(image_lu_name.encode()).hexdigest()[:24]


def _marker_name(kind, image_lu_name):
    return '%s%s_%s' % (kind, uuid.uuid4().hex[:8], _image_key(image_lu_name))


def _markers(lus, kind, image_lu_name):
    """Markers of ``kind`` for the image in an LU list."""
    tail = '_' + _image_key(image_lu_name)
    return [lu for lu in lus if lu.name.startswith(kind) and
            lu.name.endswith(tail) and len(lu.name) == len(kind) + 8 +
            len(tail)]


def _lock_name(image_lu_name):
    return 'powervm-ssp-image-%s' % image_lu_name


class SSPDiskAdapter(disk_dvr.DiskAdapter):
    """Boot disks as linked clones of image LUs in a Shared Storage Pool."""

    capabilities = {
        'shared_storage': True,
        'has_imagecache': True,
        'snapshot': True,
        'extend': True,
    }
    # An LU holds the image's bytes as they are: only raw images boot.
    image_formats = ('raw',)

    def __init__(self, adapter, host_uuid):
        """Find the cluster, its pool and default tier (two GETs).

        :raises ClusterNotFound: ``cluster_name`` names no cluster.
        :raises NoClusterFound: no cluster at all.
        :raises TooManyClusters: several clusters and no ``cluster_name``.
        :raises ClusterHasNoLocalNode: no VIOS of this host is a member.
        """
        super().__init__(adapter, host_uuid)
        cluster = self._find_cluster(CONF.powervm.cluster_name)
        self.cluster_name = cluster.name
        self.cluster_uuid = cluster.uuid
        self.ssp_uuid = cluster.ssp_uuid
        self._nodes_lock = threading.Lock()
        self._vios_uuids = self._local_vios_uuids(cluster)
        self._nodes_read_at = time.monotonic()
        if not self._vios_uuids:
            raise exc.ClusterHasNoLocalNode(cluster_name=cluster.name)
        # pypowervm's uploads run through an adapter with a helper that
        # notes failed writes (an LU or File record may be left).
        self._failed_writes = pvm_image.FailedWrites()
        self._upload_adapter = pvm_image.recording_adapter(
            adapter, self._failed_writes)
        self._tier = pvm_stg.Tier.search(
            self._upload_adapter, parent_type=pvm_stg.SSP,
            parent_uuid=self.ssp_uuid, is_default=True, one_result=True)
        if self._tier is None:
            raise exc.ClusterNotFound(cluster_name='%s (no default tier)' %
                                      cluster.name)
        self._lus = ssp_lus.LUIndex(adapter, self._tier)
        self._ssp_cache = (None, 0.0)
        self._ssp_lock = threading.Lock()
        LOG.info('SSP disk driver: cluster %(clust)s, tier %(tier)s, VIOSes '
                 '%(vios)s.', {'clust': cluster.name, 'tier': self._tier.name,
                               'vios': ', '.join(self._vios_uuids)})

    def _find_cluster(self, name):
        clusters = pvm_clust.Cluster.get(self.adapter)
        if name:
            found = [c for c in clusters if c.name == name]
            if not found:
                raise exc.ClusterNotFound(cluster_name=name)
            return found[0]
        if not clusters:
            raise exc.NoClusterFound()
        if len(clusters) > 1:
            raise exc.TooManyClusters(
                count=len(clusters),
                names=', '.join(sorted(c.name for c in clusters)))
        return clusters[0]

    def _local_vios_uuids(self, cluster):
        """UUIDs of the cluster nodes that are VIOSes of this host.

        A node of another host links to its VIOS under that host's
        ManagedSystem (or has no link): never used here.
        """
        host = (self.host_uuid or '').lower()
        found = []
        for node in cluster.nodes:
            uri = node.vios_uri
            if not (node.vios_uuid and uri):
                continue
            owner = pvm_u.get_req_path_uuid(uri, preserve_case=True,
                                            root=True)
            if (owner or '').lower() == host:
                found.append(node.vios_uuid)
        return found

    @property
    def vios_uuids(self):
        """The VIOSes of this host that are members of the cluster.

        Re-read (one GET) when older than ``_NODES_CACHE_SECONDS``.
        """
        with self._nodes_lock:
            if (time.monotonic() - self._nodes_read_at >
                    _NODES_CACHE_SECONDS):
                cluster = pvm_clust.Cluster.get(self.adapter,
                                                uuid=self.cluster_uuid)
                found = self._local_vios_uuids(cluster)
                if found != self._vios_uuids:
                    LOG.info('Cluster %(clust)s: VIOSes of this host now '
                             '%(vios)s.', {'clust': self.cluster_name,
                                           'vios': ', '.join(found)})
                self._vios_uuids = found
                self._nodes_read_at = time.monotonic()
            if not self._vios_uuids:
                raise exc.ClusterHasNoLocalNode(
                    cluster_name=self.cluster_name)
            return list(self._vios_uuids)

    def member_now(self):
        """Whether a VIOS of this host is a cluster member (one GET)."""
        with self._nodes_lock:
            self._nodes_read_at = float('-inf')
        try:
            return bool(self.vios_uuids)
        except exc.ClusterHasNoLocalNode:
            return False

    def _upload_vios_uuid(self):
        """An active VIOS (RMC up) of this host in the cluster (one GET)."""
        members = self.vios_uuids
        active = {v.uuid.upper()
                  for v in tsk_par.get_active_vioses(self.adapter)}
        for vios_uuid in members:
            if vios_uuid.upper() in active:
                return vios_uuid
        raise exc.NoActiveClusterVIOS(cluster_name=self.cluster_name,
                                      vioses=', '.join(members))

    # -- capacity -----------------------------------------------------------

    def _ssp(self):
        """The pool wrapper, read at most once per few seconds."""
        with self._ssp_lock:
            wrap, read_at = self._ssp_cache
            if wrap is None or time.monotonic() - read_at > _SSP_CACHE_SECONDS:
                wrap = pvm_stg.SSP.get(self.adapter, uuid=self.ssp_uuid)
                self._ssp_cache = (wrap, time.monotonic())
            return wrap

    @property
    def capacity(self):
        """Total pool capacity in GB."""
        return float(self._ssp().capacity)

    @property
    def capacity_used(self):
        """Pool capacity in use in GB (total minus free)."""
        ssp = self._ssp()
        return float(ssp.capacity) - float(ssp.free_space)

    # -- image LUs and linked clones ----------------------------------------

    @staticmethod
    def image_lu_name(image_meta):
        """Name of the image LU for an image (derived from its id)."""
        return pvm_image.cached_image_name(image_meta, IMAGE_LU_PREFIX,
                                           max_len=_IMAGE_LU_MAX_LEN)

    def _image_lus(self, lus=None):
        """Image LUs of the tier (one GET unless ``lus`` is given)."""
        if lus is None:
            lus = self._lus.feed()
        return [lu for lu in lus if lu.lu_type == pvm_stg.LUType.IMAGE]

    def _get_or_upload_image_lu(self, context, image_meta, luname, lus):
        """The image LU, uploading it if absent from ``lus``.

        The caller holds the image's lock and a clone marker.
        """
        for lu in self._image_lus(lus):
            if lu.name == luname:
                LOG.debug('Using image LU %s.', luname)
                return lu
        size = image_meta.size if image_meta.obj_attr_is_set('size') else None

        used = []

        def upload():
            stream, nbytes = pvm_image.image_stream(
                context, image_meta.id, size=size,
                checksum=pvm_image.image_checksum(image_meta))
            try:
                vios_uuid = self._upload_vios_uuid()
                used.append(vios_uuid)
                LOG.info('Uploading image %(img)s (%(size)d bytes) to image '
                         'LU %(lu)s through VIOS %(vios)s.',
                         {'img': image_meta.id, 'size': nbytes, 'lu': luname,
                          'vios': vios_uuid})
                return self._upload_image_lu(luname, vios_uuid, stream,
                                             nbytes)
            finally:
                close = getattr(stream, 'close', None)
                if close:
                    close()

        # pypowervm removes a failed image LU and its marker LU itself.
        try:
            return pvm_image.retry_upload(
                self.adapter, upload,
                what='upload of image %s' % image_meta.id)
        except Exception:
            with excutils.save_and_reraise_exception():
                # Not the File whose creation's answer was lost.
                for vios_uuid in set(used):
                    pvm_image.remove_upload_files(self.adapter, luname,
                                                  vios_uuid)

    def _upload_image_lu(self, luname, vios_uuid, stream, size):
        """pypowervm's marker-LU upload, redoing its failed writes.

        pypowervm only logs a failed removal of its marker LU, of a failed
        image LU or of the upload's File record: a marker left there makes
        every later upload of this image, on any host of the cluster, wait
        for an upload that never ends; a File record counts against the
        server's limit.  And when the answer to the creation of its marker
        LU or of the image LU is lost, the LU may exist without pypowervm
        knowing (an empty image LU would look complete).  The upload
        adapter's helper notes those requests; each DELETE is redone and
        each LU whose creation failed is removed (by its name, which only
        this upload uses: pypowervm elected it the uploader).
        """
        with self._failed_writes.recording() as failed:
            try:
                return tsk_cs.get_or_upload_image_lu(
                    self._tier, luname, vios_uuid, stream, size,
                    upload_type=tsk_stg.UploadType.IO_STREAM)
            except pvm_exc.Error:
                if not any('/LogicalUnit/' in p for p in failed.deletes):
                    raise
                # The marker is removed below; the upload may have
                # completed before its removal failed.
                self._redo_deletes(failed.deletes)
                for lu in self._image_lus():
                    if lu.name == luname:
                        return lu
                raise
            finally:
                self._redo_deletes(failed.deletes)
                self._lus.remove_named(failed.lu_creates)

    def _redo_deletes(self, paths):
        """DELETE again what pypowervm failed to delete (absent is fine)."""
        while paths:
            path = paths.pop(0)
            LOG.warning('Removing %s, which pypowervm failed to delete '
                        'during an image upload.', path)
            try:
                self.adapter.delete_by_path(path)
            except pvm_exc.HttpNotFound:
                pass
            except pvm_exc.Error:
                LOG.warning('%s could not be removed; remove it manually.',
                            path, exc_info=True)

    # -- cross-host markers ---------------------------------------------------

    def _add_marker(self, kind, luname):
        """Create a marker LU; returns its wrapper (one PUT)."""
        name = _marker_name(kind, luname)
        try:
            _tier, marker = tsk_stg.crt_lu(self._tier, name, _MARKER_GB,
                                           thin=True,
                                           typ=pvm_stg.LUType.IMAGE)
        except pvm_exc.Error:
            # Maybe created and the answer lost: leave nothing behind.
            self._remove_marker(name)
            raise
        return marker

    def _remove_marker(self, marker):
        """Delete a marker LU (wrapper: one DELETE; name: GET first).

        Retried once (by name); a marker that still cannot be removed is
        logged: a clone marker only keeps its image cached, a deletion
        marker is removed by a waiting spawn in time.
        """
        for attempt in (1, 2):
            try:
                if isinstance(marker, str):
                    for lu in self._lus.feed():
                        if lu.name == marker:
                            lu.delete()
                else:
                    marker.delete()
                return
            except pvm_exc.HttpNotFound:
                return
            except pvm_exc.Error:
                marker = getattr(marker, 'name', marker)
                if attempt == 2:
                    LOG.warning('Marker LU %s could not be removed: remove '
                                'it manually.', marker, exc_info=True)

    def _clone_marker_lus(self, luname):
        """Clone marker placed, LUs listed, no removal under way.

        Waits (up to ``_DELETE_WAIT_SECONDS``) while another host removes
        the image; a deletion marker older than that is stale: removed.
        :return: (marker name, LU list read after the marker was placed).
        """
        deadline = time.monotonic() + _DELETE_WAIT_SECONDS
        while True:
            marker = self._add_marker(_CLONE_MARK, luname)
            try:
                lus = self._lus.feed()
            except Exception:
                self._remove_marker(marker)
                raise
            removals = _markers(lus, _DELETE_MARK, luname)
            if not removals:
                return marker, lus
            self._remove_marker(marker)
            if time.monotonic() > deadline:
                for lu in removals:
                    LOG.warning('Removing stale image removal marker %s.',
                                lu.name)
                    self._remove_marker(lu)
                deadline = time.monotonic() + _DELETE_WAIT_SECONDS
                continue
            LOG.info('Image LU %s is being removed by another host; '
                     'waiting.', luname)
            time.sleep(_DELETE_POLL_SECONDS)

    def create_disk_from_image(self, context, instance, image_meta,
                               disk_type=disk_dvr.DiskType.BOOT):
        """Linked clone of the image LU (uploaded first if needed).

        Size: the flavor's root disk, or the image LU's when that is 0 or
        smaller.  A clone marker protects the image from other hosts' cache
        managers meanwhile (module docstring).  :return: the new LUEnt.
        """
        luname = self.image_lu_name(image_meta)
        disk_name = self.get_disk_name(disk_type, instance)
        size_gb = instance.flavor.root_gb
        # Held across upload and clone so this host's cache manager cannot
        # remove the image LU in between; other images are not blocked.
        with lockutils.lock(_lock_name(luname)):
            marker, lus = self._clone_marker_lus(luname)
            try:
                image_lu = self._get_or_upload_image_lu(
                    context, image_meta, luname, lus)
                LOG.info('Creating linked clone %(disk)s of image LU %(img)s '
                         '(%(size)s GB).', {'disk': disk_name, 'img': luname,
                                            'size': size_gb},
                         instance=instance)
                _tier, lu = tsk_stg.crt_lu(
                    self._tier, disk_name, size_gb, thin=True,
                    typ=pvm_stg.LUType.DISK, clone=image_lu)
            finally:
                self._remove_marker(marker)
        self._lus.note(lu)
        return lu

    def detach_disk(self, instance, disk_types=(disk_dvr.DiskType.BOOT,),
                    with_mgmt=False):
        """Remove the LUs' mappings; return the LU(s) to delete.

        With no mapping left (a partition already gone, or a destroy
        retried after its LU deletion failed) the LUs are still returned,
        found by name (one more GET), so destroy leaves no LU behind.
        """
        removed = super().detach_disk(instance, disk_types=disk_types,
                                      with_mgmt=with_mgmt)
        if removed:
            return removed
        return self.boot_disks(instance, disk_types=disk_types)

    def boot_disks(self, instance, disk_types=(disk_dvr.DiskType.BOOT,)):
        """The instance's LUs of ``disk_types``, found by name (one GET)."""
        names = {self.get_disk_name(dtype, instance) for dtype in disk_types}
        return [lu for lu in self._lus.feed()
                if lu.name in names and lu.lu_type == pvm_stg.LUType.DISK]

    def delete_disks(self, storage_elems):
        """Delete the instance LUs (not their image LU; see cache manager).

        Per LU one GET of its entry and one DELETE (ssp_lus: a GET of the
        tier's LUs instead when this process has not seen the LU).  Unlike
        pypowervm's rm_tier_storage, a failed DELETE is raised (not logged
        and ignored): the LU would leak.  Absent LUs are fine.
        """
        udids = {elem.udid for elem in storage_elems or () if elem.udid}
        if not udids:
            return
        for lu in self._lus.by_udid(sorted(udids)).values():
            if lu.lu_type == pvm_stg.LUType.IMAGE:
                continue
            LOG.info('Deleting LU %(lu)s (UDID %(udid)s).',
                     {'lu': lu.name, 'udid': lu.udid})
            try:
                lu.delete()
            except pvm_exc.HttpNotFound:
                pass
            self._lus.forget(lu.udid)

    def extend_disk(self, instance, disk_info, size_gb):
        """Grow the boot LU to ``size_gb`` (one GET, one POST).

        :param disk_info: the boot LU (its entry read as ssp_lus reads
            it); None: found by name in a GET of the tier's LUs (not the
            VIOSes' mappings of every partition).
        """
        if disk_info is not None and not self._grows(instance, disk_info,
                                                     size_gb):
            return
        name = self.get_disk_name(disk_dvr.DiskType.BOOT, instance)
        if disk_info is not None:
            candidates = self._lus.by_udid([disk_info.udid]).values()
        else:
            candidates = self._lus.feed()
        for lu_ent in candidates:
            if (disk_info is not None or lu_ent.name == name and
                    lu_ent.lu_type == pvm_stg.LUType.DISK):
                break
        else:
            raise exc.DiskExtendNotSupported(
                instance=instance.name,
                reason='no boot disk found' if disk_info is None else
                'logical unit %s not found in the pool' % disk_info.name)
        if disk_info is None and not self._grows(instance, lu_ent, size_gb):
            return
        LOG.info('Extending LU %(lu)s from %(old)s to %(new)s GB.',
                 {'lu': lu_ent.name, 'old': lu_ent.capacity, 'new': size_gb},
                 instance=instance)
        lu_ent._capacity(size_gb)
        lu_ent.update()

    @staticmethod
    def _grows(instance, lu, size_gb):
        """Whether ``size_gb`` is more than the LU's size (less: refused)."""
        if size_gb < lu.capacity:
            raise exc.DiskShrinkNotSupported(
                instance=instance.name, current=lu.capacity,
                requested=size_gb)
        return size_gb > lu.capacity

    # -- image cache --------------------------------------------------------

    def manage_image_cache(self, context, all_instances):
        """Remove image LUs that no host uses or is about to clone.

        An image LU is removed only with no linked clone, no upload marker
        and no clone marker, checked again (under the image's lock, so this
        host's spawns wait) after this host's deletion marker is placed:
        the cross-host protocol of the module docstring.
        """
        if not CONF.image_cache.remove_unused_base_images:
            return
        lus = self._lus.feed()
        for candidate in self._unused_image_lus(lus):
            with lockutils.lock(_lock_name(candidate.name)):
                marker = self._add_marker(_DELETE_MARK, candidate.name)
                try:
                    current = self._lus.feed()
                    if candidate not in self._unused_image_lus(current):
                        LOG.info('Keeping image LU %s: in use meanwhile.',
                                 candidate.name)
                        continue
                    LOG.info('Removing unused image LU %s.', candidate.name)
                    tsk_stg.rm_tier_storage([candidate], lufeed=current,
                                            del_unused_images=False)
                finally:
                    self._remove_marker(marker)

    def _unused_image_lus(self, lus):
        images = [lu for lu in self._image_lus(lus)
                  if lu.name.startswith(IMAGE_LU_PREFIX)]
        clone_sources = {lu.cloned_from_udid[2:] for lu in lus
                         if lu.lu_type == pvm_stg.LUType.DISK and
                         lu.cloned_from_udid}
        names = [lu.name for lu in lus]
        unused = []
        for image in images:
            if image.udid[2:] in clone_sources:
                continue
            if any(n != image.name and n.endswith(image.name) for n in names):
                # A marker LU: upload in progress.
                continue
            if _markers(lus, _CLONE_MARK, image.name):
                # A host is cloning it.
                continue
            unused.append(image)
        return unused
