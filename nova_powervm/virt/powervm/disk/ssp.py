"""Ephemeral disks on a Shared Storage Pool (SSP).

Each image is uploaded once into an image logical unit (LU) of the pool's
default tier; every instance's boot disk is a thin linked clone of it.  The
pool is visible from every host of the cluster (shared storage: live
migration keeps the disk), and disks are mapped through every VIOS of this
host that is a cluster member.

Image LUs are named ``image_<image id>`` (``image.cached_image_name``);
concurrent spawns of the same image on this host serialize on a per-image
lock (one upload), and across hosts pypowervm's marker-LU protocol
(``cluster_ssp.get_or_upload_image_lu``) elects one uploader.  The image
cache manager removes image LUs that no longer have linked clones.
"""
import re
import threading
import time

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import cluster_ssp as tsk_cs
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import cluster as pvm_clust
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm.disk import driver as disk_dvr
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


# pypowervm's ConnectionError only has a message: "ConnectionError for
# DELETE http://host:port/rest/api/uom/...: reason".
_CONN_ERR_DELETE = re.compile(
    r'for DELETE \S*?(/rest/api/uom/\S*?/LogicalUnit/[0-9A-Fa-f-]+)')


def _failed_lu_delete(error):
    """REST path of the LU whose DELETE raised ``error`` (else None)."""
    resp = getattr(error, 'response', None)
    if resp is not None and getattr(resp, 'reqmethod', None):
        path = (resp.reqpath or '').split('?')[0]
        if resp.reqmethod == 'DELETE' and '/LogicalUnit/' in path:
            return path
        return None
    if isinstance(error, pvm_exc.ConnectionError):
        match = _CONN_ERR_DELETE.search(str(error))
        return match.group(1) if match else None
    return None


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
        self._vios_uuids = [node.vios_uuid for node in cluster.nodes
                            if node.vios_uuid]
        if not self._vios_uuids:
            raise exc.ClusterHasNoLocalNode(cluster_name=cluster.name)
        self._tier = pvm_stg.Tier.search(
            adapter, parent_type=pvm_stg.SSP, parent_uuid=self.ssp_uuid,
            is_default=True, one_result=True)
        if self._tier is None:
            raise exc.ClusterNotFound(cluster_name='%s (no default tier)' %
                                      cluster.name)
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

    @property
    def vios_uuids(self):
        """The VIOSes of this host that are members of the cluster."""
        return list(self._vios_uuids)

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
            lus = pvm_stg.LUEnt.get(self.adapter, parent=self._tier)
        return [lu for lu in lus if lu.lu_type == pvm_stg.LUType.IMAGE]

    def _get_or_upload_image_lu(self, context, image_meta, luname):
        """The image LU, uploading it if absent.  Caller holds the lock."""
        for lu in self._image_lus():
            if lu.name == luname:
                LOG.debug('Using image LU %s.', luname)
                return lu
        size = image_meta.size if image_meta.obj_attr_is_set('size') else None

        def upload():
            stream, nbytes = pvm_image.image_stream(
                context, image_meta.id, size=size,
                checksum=pvm_image.image_checksum(image_meta))
            try:
                LOG.info('Uploading image %(img)s (%(size)d bytes) to image '
                         'LU %(lu)s.', {'img': image_meta.id, 'size': nbytes,
                                        'lu': luname})
                return self._upload_image_lu(luname, stream, nbytes)
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
                pvm_image.remove_upload_files(self.adapter, luname,
                                              self._vios_uuids[0])

    def _upload_image_lu(self, luname, stream, size):
        """pypowervm's marker-LU upload, retrying its failed LU removal.

        pypowervm raises when removing its marker LU (or a failed image LU)
        fails, and leaves the LU: a marker left there makes every later
        upload of this image, on any host of the cluster, wait for an
        upload that never ends.  The removal is retried once here.
        """
        try:
            # pypowervm drops the File record it failed to delete.
            with pvm_image.removing_undeleted_upload_files(self.adapter):
                return tsk_cs.get_or_upload_image_lu(
                    self._tier, luname, self._vios_uuids[0], stream, size,
                    upload_type=tsk_stg.UploadType.IO_STREAM)
        except pvm_exc.Error as e:
            path = _failed_lu_delete(e)
            if path is None:
                raise
            LOG.warning('Removing LU %(path)s after the upload of image LU '
                        '%(lu)s failed; retrying: %(err)s',
                        {'path': path, 'lu': luname, 'err': e})
            try:
                self.adapter.delete_by_path(path)
            except pvm_exc.HttpNotFound:
                pass
            # The marker is gone; the upload itself may have completed.
            for lu in self._image_lus():
                if lu.name == luname:
                    return lu
            raise

    def create_disk_from_image(self, context, instance, image_meta):
        """Linked clone of the image LU (uploaded first if needed).

        Size: the flavor's root disk, or the image LU's when that is 0 or
        smaller.  :return: the new LUEnt.
        """
        luname = self.image_lu_name(image_meta)
        disk_name = self.get_disk_name(disk_dvr.DiskType.BOOT, instance)
        size_gb = instance.flavor.root_gb
        # Held across upload and clone so the cache manager cannot remove
        # the image LU in between; other images are not blocked.
        with lockutils.lock(_lock_name(luname)):
            image_lu = self._get_or_upload_image_lu(context, image_meta,
                                                    luname)
            LOG.info('Creating linked clone %(disk)s of image LU %(img)s '
                     '(%(size)s GB).', {'disk': disk_name, 'img': luname,
                                        'size': size_gb},
                     instance=instance)
            _tier, lu = tsk_stg.crt_lu(
                self._tier, disk_name, size_gb, thin=True,
                typ=pvm_stg.LUType.DISK, clone=image_lu)
        return lu

    def detach_disk(self, instance):
        """Remove the boot LU's mappings; return the LU(s) to delete.

        With no mapping left (a partition already gone, or a destroy
        retried after its LU deletion failed) the boot LU is still returned,
        found by name (one more GET), so destroy leaves no LU behind.
        """
        removed = super().detach_disk(instance)
        if removed:
            return removed
        return self.boot_disks(instance)

    def boot_disks(self, instance):
        """The instance's boot LU(s), found by name (one GET)."""
        name = self.get_disk_name(disk_dvr.DiskType.BOOT, instance)
        return [lu for lu in pvm_stg.LUEnt.get(self.adapter, parent=self._tier)
                if lu.name == name and lu.lu_type == pvm_stg.LUType.DISK]

    def delete_disks(self, storage_elems):
        """Delete the instance LUs (not their image LU; see cache manager).

        One GET of the tier's LUs plus one DELETE per LU.  Unlike
        pypowervm's rm_tier_storage, a failed DELETE is raised (not logged
        and ignored): the LU would leak.  Absent LUs are fine.
        """
        if not storage_elems:
            return
        udids = {elem.udid for elem in storage_elems if elem.udid}
        for lu in pvm_stg.LUEnt.get(self.adapter, parent=self._tier):
            if lu.udid in udids and lu.lu_type != pvm_stg.LUType.IMAGE:
                LOG.info('Deleting LU %(lu)s (UDID %(udid)s).',
                         {'lu': lu.name, 'udid': lu.udid})
                try:
                    lu.delete()
                except pvm_exc.HttpNotFound:
                    pass

    def extend_disk(self, instance, disk_info, size_gb):
        """Grow the boot LU to ``size_gb`` (one GET, one POST)."""
        lu = disk_info or self.get_bootdisk_storage(instance)
        if lu is None:
            raise exc.DiskExtendNotSupported(
                instance=instance.name, reason='no boot disk found')
        if size_gb < lu.capacity:
            raise exc.DiskShrinkNotSupported(
                instance=instance.name, current=lu.capacity,
                requested=size_gb)
        if size_gb == lu.capacity:
            return
        for lu_ent in pvm_stg.LUEnt.get(self.adapter, parent=self._tier):
            if lu_ent.udid == lu.udid:
                break
        else:
            raise exc.DiskExtendNotSupported(
                instance=instance.name,
                reason='logical unit %s not found in the pool' % lu.name)
        LOG.info('Extending LU %(lu)s from %(old)s to %(new)s GB.',
                 {'lu': lu_ent.name, 'old': lu_ent.capacity, 'new': size_gb},
                 instance=instance)
        lu_ent._capacity(size_gb)
        lu_ent.update()

    # -- image cache --------------------------------------------------------

    def manage_image_cache(self, context, all_instances):
        """Remove image LUs (ours) that have no linked clone left.

        Image LUs being uploaded (a marker LU exists) are kept.  The
        decision is re-checked under the image's lock, so a spawn on this
        host cloning the image at the same time keeps it.
        """
        if not CONF.image_cache.remove_unused_base_images:
            return
        lus = pvm_stg.LUEnt.get(self.adapter, parent=self._tier)
        for candidate in self._unused_image_lus(lus):
            with lockutils.lock(_lock_name(candidate.name)):
                current = pvm_stg.LUEnt.get(self.adapter, parent=self._tier)
                if candidate not in self._unused_image_lus(current):
                    continue
                LOG.info('Removing unused image LU %s.', candidate.name)
                tsk_stg.rm_tier_storage([candidate], lufeed=current,
                                        del_unused_images=False)

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
            unused.append(image)
        return unused
