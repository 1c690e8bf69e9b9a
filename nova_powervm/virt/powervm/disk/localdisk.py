"""Ephemeral disks in a volume group of a Virtual I/O Server ("localdisk").

Images are cached in the volume group: the first boot of an image streams it
once into an image virtual disk (``i_<image id>``); each instance then gets
its own boot disk (``b_<instance uuid>``, see ``DiskAdapter.get_disk_name``)
created by the server as a copy of the cached image (``VirtualDisk`` with a
``BaseImage``), grown to the flavor's root size.  Concurrent boots of the same
new image upload it once (a lock per image, not a global one).

The volume group named ``QCOW VG - default`` holds file-backed disks; those
cannot be grown (resize is refused before anything changes).

Mappings to partitions (attach/detach) are shared code in ``disk.driver``.
"""
import collections
import functools
import math
import time

from lxml import etree
from nova import exception as nova_exc
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units
from pypowervm import const as pvm_const
from pypowervm import entities as pvm_ent
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import image

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
# A volume group's element holding its virtual disks.
_VG_VDISKS = 'VirtualDisks'

# The volume group whose virtual disks are files (NovaLink file storage).
FILE_BACKED_VG = 'QCOW VG - default'
# Name prefix of cached image virtual disks.
IMAGE_PREFIX = 'i_'
# How long a volume group read serves capacity/capacity_used (seconds).
STATS_TTL = 5.0
_FILE_BACKSTORES = (pvm_stg.BackStoreType.USER_QCOW,
                    pvm_stg.BackStoreType.FILE_IO,
                    pvm_stg.BackStoreType.LOOP)


def _base_name(name):
    """A virtual disk's name without a file path (file-backed disks)."""
    return name.split('/')[-1] if name else name


def _find_vdisk(vg_wrap, name):
    """The virtual disk called ``name`` in ``vg_wrap``, or None.

    The names are read from the XML (a spawn looks four times through a
    volume group of every instance's disk): an XPath picks the disks whose
    name contains ``name``, only the one found is wrapped, as
    ``vg_wrap.virtual_disks`` wraps it (the same element).
    """
    disks = vg_wrap.element.find(_VG_VDISKS)
    if disks is None or not name:
        return None
    nspace = disks.element.tag[:-len(_VG_VDISKS)]   # '{namespace}'
    name_tag = nspace + pvm_stg.DISK_NAME
    for elem in _named_like(nspace)(disks.element, name=name):
        text = elem.findtext(name_tag)
        if text is not None and _base_name(text.strip()) == name:
            return pvm_stg.VDisk.wrap(pvm_ent.Element.wrapelement(
                elem, disks.adapter))
    return None


@functools.lru_cache(maxsize=4)
def _named_like(nspace):
    """XPath: the VirtualDisk children whose DiskName contains $name."""
    return etree.XPath('u:%s[contains(u:%s, $name)]' % (
        pvm_stg.VDisk.schema_type, pvm_stg.DISK_NAME),
        namespaces={'u': nspace[1:-1]})


# What pypowervm's upload_lu needs of its target: the adapter, the File's
# name and the device's UDID (a VDisk's name may be a file path).
_UploadTarget = collections.namedtuple('_UploadTarget',
                                       ['adapter', 'name', 'udid'])


def image_disk_name(image_ref):
    """Name of the cached image virtual disk of an image (ImageMeta or id)."""
    return image.cached_image_name(image_ref, IMAGE_PREFIX,
                                   max_len=pvm_const.MaxLen.VDISK_NAME)


class LocalStorage(disk_dvr.DiskAdapter):
    """Boot disks in the volume group ``[powervm] volume_group_name``."""

    def __init__(self, adapter, host_uuid):
        super().__init__(adapter, host_uuid)
        self.vg_name = CONF.powervm.volume_group_name
        if not self.vg_name:
            raise exc.VolumeGroupNotConfigured()
        self._vg_seen = (0.0, None)
        vios_w, vg_w = self._find_vg()
        self._vios_uuid = vios_w.uuid
        self.vg_uuid = vg_w.uuid
        self._seen(vg_w)
        self.file_backed = self.vg_name == FILE_BACKED_VG
        # A logical volume holds the image's bytes as they are: only raw
        # boots.  File-backed disks are files of the image's format.
        self.image_formats = (('raw', 'qcow2') if self.file_backed
                              else ('raw',))
        self.capabilities = dict(disk_dvr.DiskAdapter.capabilities,
                                 shared_storage=False, has_imagecache=True,
                                 snapshot=True,
                                 extend=not self.file_backed)
        self._image_locks = lockutils.Semaphores()
        # Uploads per image by this driver (the VG is this host's alone).
        self._uploads = collections.Counter()
        LOG.info('localdisk: volume group %(vg)s on Virtual I/O Server '
                 '%(vios)s%(fb)s.', {'vg': self.vg_name, 'vios': vios_w.name,
                                     'fb': ' (file-backed disks)'
                                     if self.file_backed else ''})

    def _find_vg(self):
        """The VIOS and VG wrappers of the configured volume group.

        One GET of the VIOS feed (no extended groups) plus one GET of the
        volume groups of each VIOS until found.
        """
        vioses = pvm_vios.VIOS.get(self.adapter)
        for vios_w in vioses:
            for vg_w in pvm_stg.VG.get(self.adapter, parent=vios_w):
                if vg_w.name == self.vg_name:
                    return vios_w, vg_w
        raise exc.VolumeGroupNotFound(
            vg_name=self.vg_name,
            vioses=', '.join(v.name for v in vioses) or _('none'))

    @property
    def vios_uuids(self):
        return [self._vios_uuid]

    def check_image(self, image_meta):
        """Refuse an image this volume group cannot boot (no REST request).

        :return: the image's pypowervm FileFormatType.
        :raises ImageUnacceptable: naming the format and what is accepted
            (qcow2 only in the file-backed ``QCOW VG - default``).
        """
        def attr(name):
            return (getattr(image_meta, name)
                    if image_meta.obj_attr_is_set(name) else None)
        if not self.file_backed and attr('disk_format') == 'qcow2':
            raise nova_exc.ImageUnacceptable(
                image_id=attr('id'),
                reason=_('disk format qcow2 boots only from the file-backed '
                         'volume group %(fb)s; volume group %(vg)s '
                         '([powervm] volume_group_name) holds logical '
                         'volumes and boots raw images only') % {
                    'fb': FILE_BACKED_VG, 'vg': self.vg_name})
        return image.disk_file_format(image_meta, allowed=self.image_formats)

    # -- volume group reads ---------------------------------------------------

    def _seen(self, vg_wrap):
        """Remember the latest volume group wrapper (for capacity)."""
        self._vg_seen = (time.monotonic(), vg_wrap)
        return vg_wrap

    def _vg_getter(self):
        return pvm_stg.VG.getter(self.adapter, entry_uuid=self.vg_uuid,
                                 parent_class=pvm_vios.VIOS,
                                 parent_uuid=self._vios_uuid)

    def _get_vg(self):
        """Read the volume group (one GET)."""
        return self._seen(batch.read(self._vg_getter()))

    def _update_vg(self, name, vg_wrap, func, heavy=False,
                   answer=batch.COPY):
        """Run ``func(vg_wrap)`` and POST the VG if it returns true.

        On an etag mismatch or a failed POST the VG is read again and
        ``func`` re-applied: it must be idempotent (``batch.update``).
        :param heavy: the change makes the server copy an image.
        :param answer: ``batch.SHARE`` when the caller only reads the
            answer (and its disks): no copy of it.
        :return: (the current VG wrapper, ``func``'s return value)
        """
        # Concurrent changes (e.g. spawns adding disks) share one POST.
        vg_wrap, result = batch.update(
            ('VolumeGroup', self.vg_uuid), self._vg_getter(), func,
            wrapper=vg_wrap, name=name, heavy=heavy, answer=answer)
        return self._seen(vg_wrap), result

    @property
    def capacity(self):
        """Size of the volume group in GB."""
        return float(self._stats_vg().capacity)

    @property
    def capacity_used(self):
        """GB of the volume group not available for new disks."""
        vg_wrap = self._stats_vg()
        return float(vg_wrap.capacity) - float(vg_wrap.available_size)

    def _stats_vg(self):
        """A VG wrapper at most STATS_TTL seconds old (capacity reporting)."""
        stamp, vg_wrap = self._vg_seen
        if vg_wrap is None or time.monotonic() - stamp > STATS_TTL:
            vg_wrap = self._get_vg()
        return vg_wrap

    # -- naming -----------------------------------------------------------

    def disk_match_func(self, disk_type, instance):
        """Match the instance's virtual disk (file path names too)."""
        name = self.get_disk_name(disk_type, instance, short=True)

        def match(stg_elem):
            return (isinstance(stg_elem, pvm_stg.VDisk) and
                    _base_name(stg_elem.name) == name)
        return match

    # -- create ------------------------------------------------------------

    def create_disk_from_image(self, context, instance, image_meta,
                               disk_type=disk_dvr.DiskType.BOOT):
        """Create the instance's boot (or rescue) disk: a cached image copy.

        REST requests: cached image: 2 (read the VG, add the disk); new
        image: 6 (read the VG, add the image disk, upload: file, stream,
        delete file metadata, then add the boot disk to the VG the image
        disk's update returned: an upload does not change the VG).  A failed
        upload leaves no image disk behind.
        :raises ImageUnacceptable: unsupported disk format or no image data.
        :raises FlavorDiskSmallerThanImage: the image exceeds the root disk.
        """
        file_format = self.check_image(image_meta)
        img_size = image_meta.size if image_meta.obj_attr_is_set(
            'size') else None
        if not img_size:
            raise nova_exc.ImageUnacceptable(
                image_id=image_meta.id, reason=_('the image has no data'))
        root_gb = instance.flavor.root_gb
        if root_gb and img_size > root_gb * units.Gi:
            raise nova_exc.FlavorDiskSmallerThanImage(
                flavor_size=root_gb * units.Gi, image_size=img_size)
        # Whole GB: the REST API rounds disk sizes up to full GB anyway.
        disk_gb = max(root_gb, int(math.ceil(float(img_size) / units.Gi)))
        boot_name = self.get_disk_name(disk_type, instance, short=True)
        img_name = image_disk_name(image_meta)

        uploads = self._uploads[img_name]
        vg_wrap = self._get_vg()
        if _find_vdisk(vg_wrap, boot_name) is not None:
            raise nova_exc.StorageError(reason=_(
                'virtual disk %(disk)s of instance %(inst)s already '
                'exists in volume group %(vg)s') % {
                'disk': boot_name, 'inst': instance.uuid,
                'vg': self.vg_name})
        img_vdisk = _find_vdisk(vg_wrap, img_name)
        if img_vdisk is None:
            # Only the upload is serialized (once per image): spawns of a
            # cached image copy it concurrently.
            with self._image_locks.get(img_name):
                if self._uploads[img_name] != uploads:
                    # Uploaded by another spawn since the read above.
                    vg_wrap = self._get_vg()
                    img_vdisk = _find_vdisk(vg_wrap, img_name)
                if img_vdisk is None:
                    img_vdisk, vg_wrap = self._upload_image(
                        context, image_meta, img_name, img_size,
                        file_format, vg_wrap)
                    self._uploads[img_name] += 1
        else:
            LOG.info('Using cached image %(img)s for the boot disk.',
                     {'img': img_name}, instance=instance)
        return self._copy_image(vg_wrap, img_vdisk, boot_name, disk_gb,
                                file_format, instance)

    def _upload_image(self, context, image_meta, img_name, img_size,
                      file_format, vg_wrap):
        """Stream the image into a new image virtual disk (the cache).

        :param vg_wrap: a recent VG wrapper (the image disk is added to it).
        :return: (the image VDisk, the VG wrapper its creation returned).
        """
        LOG.info('Uploading image %(id)s (%(size)d bytes) into virtual disk '
                 '%(disk)s of volume group %(vg)s.',
                 {'id': image_meta.id, 'size': img_size, 'disk': img_name,
                  'vg': self.vg_name})
        base = [vg_wrap]

        def upload():
            # A retry starts from a fresh read (the clean-up changed the VG).
            vg_w, vdisk = self._create_image_disk(base.pop() if base else
                                                  None, img_name, img_size,
                                                  file_format)
            stream, size = image.image_stream(
                context, image_meta.id, size=img_size,
                checksum=image.image_checksum(image_meta))
            with stream:
                # pypowervm's upload into an existing disk: it names the
                # File after ``name`` and targets the device ``udid``.
                leftover = tsk_stg.upload_lu(
                    self._vios_uuid, _UploadTarget(self.adapter, img_name,
                                                   vdisk.udid),
                    stream, size)
            return vdisk, vg_w, leftover

        # A failed attempt leaves the image disk (and maybe its File).
        def cleanup():
            self._remove_partial_image(img_name)

        try:
            vdisk, vg_wrap, leftover = image.retry_upload(
                self.adapter, upload, between=cleanup,
                what='upload of image %s' % image_meta.id)
        except Exception:
            with excutils.save_and_reraise_exception():
                cleanup()
        image.remove_upload_metadata(leftover)
        return vdisk, vg_wrap

    def _create_image_disk(self, vg_wrap, img_name, img_size, file_format):
        """Add the (empty) image virtual disk; (VG wrapper, its VDisk)."""
        gb = int(math.ceil(float(img_size) / units.Gi))

        def add_disk(vg_w):
            if _find_vdisk(vg_w, img_name) is not None:
                # Made by an earlier try whose answer was lost.
                return False
            vg_w.virtual_disks.append(pvm_stg.VDisk.bld(
                self.adapter, img_name, gb, file_format=file_format))
            return True

        vg_wrap, _ok = self._update_vg('crt_image_disk', vg_wrap, add_disk)
        vdisk = _find_vdisk(vg_wrap, img_name)
        if vdisk is None or not vdisk.udid:
            raise nova_exc.StorageError(reason=_(
                'volume group %(vg)s does not report the new image disk '
                '%(disk)s') % {'vg': self.vg_name, 'disk': img_name})
        return vg_wrap, vdisk

    def _remove_partial_image(self, img_name):
        """Best effort: delete an image disk whose upload failed.

        Called with the image's lock held, so no spawn is using it.
        """
        try:
            self.delete_disks([pvm_stg.VDisk.bld_ref(self.adapter,
                                                     img_name)])
        except Exception:
            LOG.exception('Image disk %(disk)s of a failed upload could not '
                          'be removed from volume group %(vg)s.',
                          {'disk': img_name, 'vg': self.vg_name})
        # The File's creation may have been made and its answer lost.
        image.remove_upload_files(self.adapter, img_name, self._vios_uuid)

    def _copy_image(self, vg_wrap, img_vdisk, boot_name, disk_gb,
                    file_format, instance):
        """Add the boot disk as a server-side copy of the image disk."""
        def add_disk(vg_w):
            if _find_vdisk(vg_w, boot_name) is not None:
                # Made by an earlier try whose answer was lost (the name
                # is the instance's; the disk did not exist before).
                return False
            vg_w.virtual_disks.append(pvm_stg.VDisk.bld(
                self.adapter, boot_name, disk_gb, base_image=img_vdisk.udid,
                file_format=file_format))
            return True

        LOG.info('Creating boot disk %(disk)s (%(gb)d GB) from image disk '
                 '%(img)s.', {'disk': boot_name, 'gb': disk_gb,
                              'img': img_vdisk.name}, instance=instance)
        # The answer is only read: shared by the batch's spawns, not copied
        # for each (the boot disk's mapping copies the disk, scsi_maps).
        vg_wrap, _ok = self._update_vg('crt_boot_disk', vg_wrap, add_disk,
                                       heavy=True, answer=batch.SHARE)
        vdisk = _find_vdisk(vg_wrap, boot_name)
        if vdisk is None:
            raise nova_exc.StorageError(reason=_(
                'volume group %(vg)s does not report the new virtual disk '
                '%(disk)s') % {'vg': self.vg_name, 'disk': boot_name})
        return vdisk

    # -- detach / delete ------------------------------------------------

    def boot_disks(self, instance, disk_types=(disk_dvr.DiskType.BOOT,)):
        """The instance's virtual disks of ``disk_types`` (one GET)."""
        vg_wrap = self._get_vg()
        found = [_find_vdisk(vg_wrap, self.get_disk_name(
            dtype, instance, short=True)) for dtype in disk_types]
        return [vdisk for vdisk in found if vdisk is not None]

    def detach_disk(self, instance, disk_types=(disk_dvr.DiskType.BOOT,),
                    with_mgmt=False):
        """Remove the disks' mappings; return the disk(s) to delete.

        When no mapping is left (the partition is already gone, taking its
        mappings with it) the disks are still returned, by name, so that
        :meth:`delete_disks` removes them: destroy leaves no disk behind.
        """
        removed = super().detach_disk(instance, disk_types=disk_types,
                                      with_mgmt=with_mgmt)
        if not removed:
            removed = [pvm_stg.VDisk.bld_ref(
                self.adapter, self.get_disk_name(dtype, instance, short=True))
                for dtype in disk_types]
        return removed

    def delete_disks(self, storage_elems):
        """Delete virtual disks from the volume group.

        Matched by UDID, or by name for references without one; absent disks
        are ignored.

        REST requests: 0 for an empty list, else 1 read + 1 update of the VG
        (no update when none of the disks exists).
        """
        if not storage_elems:
            return []
        udids = {elem.udid for elem in storage_elems if elem.udid}
        names = {_base_name(elem.name) for elem in storage_elems
                 if not elem.udid}

        def rm_disks(vg_w):
            gone = [vd for vd in vg_w.virtual_disks
                    if vd.udid in udids or _base_name(vd.name) in names]
            for vdisk in gone:
                vg_w.virtual_disks.remove(vdisk)
            return [vd.name for vd in gone]

        _vg, gone = self._update_vg('rm_disks', self._get_vg(), rm_disks)
        if gone:
            LOG.info('Deleted virtual disk(s) %(disks)s from volume group '
                     '%(vg)s.', {'disks': ', '.join(gone), 'vg': self.vg_name})
        return gone

    # -- resize -----------------------------------------------------------

    def extend_disk(self, instance, disk_info, size_gb):
        """Grow the instance's boot disk to ``size_gb`` (one read, one POST).

        :raises DiskExtendNotSupported: file-backed disk (before any change).
        :raises DiskShrinkNotSupported: ``size_gb`` is below the disk size.
        :raises DiskNotFound: the instance has no boot disk in the VG.
        """
        if self.file_backed:
            raise exc.DiskExtendNotSupported(
                instance=instance.name,
                reason=_('disks in volume group %s are file-backed') %
                self.vg_name)
        boot_name = self.get_disk_name(disk_dvr.DiskType.BOOT, instance,
                                       short=True)
        vg_wrap = self._get_vg()
        vdisk = _find_vdisk(vg_wrap, boot_name)
        if vdisk is None:
            raise nova_exc.DiskNotFound(
                location='%s/%s' % (self.vg_name, boot_name))
        if (vdisk.backstore_type in _FILE_BACKSTORES or
                vdisk.vdtype == pvm_stg.VDiskType.FILE):
            raise exc.DiskExtendNotSupported(
                instance=instance.name,
                reason=_('virtual disk %s is file-backed') % boot_name)
        current = vdisk.capacity
        if size_gb <= current:
            if math.ceil(size_gb) < math.floor(current):
                raise exc.DiskShrinkNotSupported(
                    instance=instance.name, current=current,
                    requested=size_gb)
            return vdisk

        def grow(vg_w):
            found = _find_vdisk(vg_w, boot_name)
            if found is None:
                raise nova_exc.DiskNotFound(
                    location='%s/%s' % (self.vg_name, boot_name))
            found.capacity = size_gb
            return True

        LOG.info('Extending boot disk %(disk)s from %(old)s to %(new)s GB.',
                 {'disk': boot_name, 'old': current, 'new': size_gb},
                 instance=instance)
        vg_wrap, _ok = self._update_vg('extend_disk', vg_wrap, grow)
        return _find_vdisk(vg_wrap, boot_name)

    # -- image cache ------------------------------------------------------

    def manage_image_cache(self, context, all_instances):
        """Delete cached image disks no instance in ``all_instances`` uses.

        An image being uploaded or copied right now (its lock is held) is
        kept for the next pass.  REST requests: 1 read of the VG, plus 1
        update when something is removed.
        :return: names of the removed image disks.
        """
        if not CONF.image_cache.remove_unused_base_images:
            return []
        in_use = {image_disk_name(inst.image_ref) for inst in all_instances
                  if inst.image_ref}
        vg_wrap = self._get_vg()
        unused = [vd for vd in vg_wrap.virtual_disks
                  if _base_name(vd.name).startswith(IMAGE_PREFIX) and
                  _base_name(vd.name) not in in_use]
        held = []
        try:
            for vdisk in unused:
                sem = self._image_locks.get(_base_name(vdisk.name))
                if sem.acquire(blocking=False):
                    held.append((sem, vdisk))
                else:
                    LOG.debug('Image disk %s is in use by a spawn; keeping '
                              'it.', vdisk.name)
            if not held:
                return []
            udids = {vdisk.udid for _sem, vdisk in held}

            def rm_images(vg_w):
                gone = [vd for vd in vg_w.virtual_disks if vd.udid in udids]
                for vdisk in gone:
                    vg_w.virtual_disks.remove(vdisk)
                return [vd.name for vd in gone]

            _vg, gone = self._update_vg('rm_cached_images', vg_wrap,
                                        rm_images)
        finally:
            for sem, _vdisk in held:
                sem.release()
        if gone:
            LOG.info('Image cache: removed unused image disk(s) %(disks)s '
                     'from volume group %(vg)s.',
                     {'disks': ', '.join(gone), 'vg': self.vg_name})
        return gone
