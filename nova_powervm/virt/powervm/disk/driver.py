"""The interface every ephemeral disk driver implements.

The compute driver picks an implementation from ``[powervm] disk_driver``
(see :func:`get_disk_driver`) and only ever talks to this interface.

What an implementation must supply: :attr:`DiskAdapter.vios_uuids`,
:attr:`capacity`, :attr:`capacity_used`, :meth:`create_disk_from_image` and
:meth:`delete_disks` (plus :meth:`extend_disk` / :meth:`manage_image_cache`
where its ``capabilities`` say so).  Everything that only depends on SCSI
mappings is shared here, once: finding the instance's disk mappings
(:meth:`instance_disk_iter`), :meth:`attach_disk`, :meth:`detach_disk`,
:meth:`get_bootdisk_storage` and, for snapshot, mapping the boot disk to the
management partition (:meth:`connect_instance_disk_to_mgmt` /
:meth:`disconnect_disk_from_mgmt`).  These find an instance's disk by name:
implementations name disks with :meth:`get_disk_name` (or override
:meth:`disk_match_func`).
"""
import abc
import time

from oslo_log import log as logging
from oslo_utils import importutils
from pypowervm import const as pvm_const
from pypowervm import util as pvm_u
from pypowervm.utils import transaction as pvm_tx
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import image
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import scsi_maps
from nova_powervm.virt.powervm import slot_map

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

_SMAP_XAG = [pvm_const.XAG.VIO_SMAP]

DISK_DRIVERS = {
    'localdisk': 'nova_powervm.virt.powervm.disk.localdisk.LocalStorage',
    'ssp': 'nova_powervm.virt.powervm.disk.ssp.SSPDiskAdapter',
}


class DiskType(object):
    BOOT = 'boot'
    IMAGE = 'image'
    # The disk a rescued partition boots from (created from the rescue
    # image, removed again by unrescue).
    RESCUE = 'rescue'


def get_disk_driver(adapter, host_uuid):
    """Instantiate the disk driver configured in ``[powervm] disk_driver``."""
    name = CONF.powervm.disk_driver.lower()
    return importutils.import_object(DISK_DRIVERS[name], adapter, host_uuid)


class DiskAdapter(metaclass=abc.ABCMeta):
    """Ephemeral storage for partitions.

    Implementations validate their configuration in ``__init__`` (raising a
    nova exception naming the missing volume group / cluster) so that a bad
    setting stops nova-compute at start-up, before anything is created.
    """

    capabilities = {
        # Disks are on storage every host of the cluster sees (live
        # migration without moving the disk).
        'shared_storage': False,
        # Images are cached on the backend and cleaned up through
        # manage_image_cache.
        'has_imagecache': False,
        # The boot disk can be read back for a snapshot.
        'snapshot': False,
        # The boot disk can be grown on resize.
        'extend': False,
    }

    # nova image disk formats the backend can boot from.
    image_formats = ('raw', 'qcow2')

    def __init__(self, adapter, host_uuid):
        self.adapter = adapter
        self.host_uuid = host_uuid

    def check_image(self, image_meta):
        """Refuse an image this backend cannot boot (no REST request).

        :raises ImageUnacceptable: naming its disk format and the accepted
            ones.
        """
        image.disk_file_format(image_meta, allowed=self.image_formats)

    @property
    @abc.abstractmethod
    def vios_uuids(self):
        """UUIDs of the Virtual I/O Servers that host/map these disks."""

    @property
    @abc.abstractmethod
    def capacity(self):
        """Total capacity of the backing storage, in GB (float)."""

    @property
    @abc.abstractmethod
    def capacity_used(self):
        """Capacity used on the backing storage, in GB (float)."""

    @abc.abstractmethod
    def create_disk_from_image(self, context, instance, image_meta,
                               disk_type=DiskType.BOOT):
        """Create a disk of ``instance`` holding the image's bytes.

        The image is streamed from nova's image API, never held whole in
        memory.  The disk is named ``get_disk_name(disk_type, instance)``
        (or the implementation overrides :meth:`disk_match_func`).
        :param disk_type: BOOT, or RESCUE for the disk of a rescue.
        :return: the pypowervm storage wrapper of the new disk.
        """

    @abc.abstractmethod
    def delete_disks(self, storage_elems):
        """Delete the given storage elements (no-op for an empty list)."""

    @abc.abstractmethod
    def boot_disks(self, instance, disk_types=(DiskType.BOOT,)):
        """The instance's disks of ``disk_types``, by name, mapped or not.

        For :meth:`delete_disks` after a create whose answer was lost (the
        disk may exist though the create raised).  [] when there is none.
        """

    def extend_disk(self, instance, disk_info, size_gb):
        """Grow the instance's boot disk to ``size_gb``.

        No-op when the disk already has that size.
        :param disk_info: the boot disk's storage wrapper, or None to look it
            up.
        :raises DiskShrinkNotSupported: ``size_gb`` is smaller than the disk.
        :raises DiskExtendNotSupported: the backend cannot grow disks (e.g.
            file-backed QCOW VG); raised before anything is changed.
        """
        raise NotImplementedError()

    def manage_image_cache(self, context, all_instances):
        """Remove cached images that no instance in ``all_instances`` uses."""

    # -- naming and finding an instance's disks (shared) ---------------------

    @staticmethod
    def get_disk_name(disk_type, instance, short=False):
        """The backend name of ``instance``'s disk of ``disk_type``.

        :param short: a name of at most 15 characters (volume-group virtual
            disks); otherwise at most 79 (logical units, files).
        """
        if short:
            base = '%s_%s' % (disk_type[0], instance.uuid.replace('-', ''))
            return base[:pvm_const.MaxLen.VDISK_NAME]
        return pvm_u.sanitize_file_name_for_api(
            '%s_%s' % (instance.name, instance.uuid[:8]),
            prefix='%s_' % disk_type,
            max_len=pvm_const.MaxLen.FILENAME_DEFAULT)

    def disk_match_func(self, disk_type, instance):
        """A ``scsi_mapper.find_maps`` match function for the disk.

        Default: a virtual disk or logical unit named (long or short form of)
        :meth:`get_disk_name`.  Override for another naming scheme.
        """
        names = {self.get_disk_name(disk_type, instance),
                 self.get_disk_name(disk_type, instance, short=True)}

        def match(stg_elem):
            return (isinstance(stg_elem, (pvm_stg.VDisk, pvm_stg.LU)) and
                    stg_elem.name in names)
        return match

    def _vios_feed(self):
        """The VIOSes of :attr:`vios_uuids` with SCSI mappings (one GET)."""
        wanted = set(self.vios_uuids)
        start = time.monotonic()
        return [batch.stamp(vwrap, start) for vwrap in pvm_vios.VIOS.get(
            self.adapter, xag=_SMAP_XAG) if vwrap.uuid in wanted]

    def _own_vioses(self):
        """``(uuid, wrapper or None)`` of :attr:`vios_uuids`, for batch.update.

        None where this process kept the VIOS (batch.give_back: a change
        costs a conditional GET, 304 and no body when it did not change);
        for more than one VIOS, one GET of the feed instead.
        """
        uuids = list(self.vios_uuids)
        if len(uuids) == 1 and batch.kept(
                self.adapter, [batch.vios_key(uuids[0], _SMAP_XAG)]):
            return [(uuid, None) for uuid in uuids]
        return [(vwrap.uuid, vwrap) for vwrap in self._vios_feed()]

    def _vios_getter(self, uuid):
        return pvm_vios.VIOS.getter(self.adapter, entry_uuid=uuid,
                                    xag=_SMAP_XAG)

    def instance_disk_iter(self, instance, disk_type=DiskType.BOOT):
        """Yield ``(storage_elem, vios_wrapper)`` for each mapping of the disk.

        One GET of the VIOS feed (SCSI mappings only).
        """
        lpar_uuid = ids.pvm_uuid(instance)
        match = self.disk_match_func(disk_type, instance)
        for vwrap in self._vios_feed():
            for smap in scsi_maps.find_maps(vwrap, lpar_uuid,
                                            match_func=match):
                yield smap.backing_storage, vwrap

    def get_bootdisk_storage(self, instance):
        """The storage wrapper of the instance's boot disk, or None."""
        for stg_elem, _vwrap in self.instance_disk_iter(instance):
            return stg_elem
        return None

    # -- mappings to the instance's partition (shared) -----------------------

    def attach_disk(self, instance, disk_info, stg_ftsk):
        """Queue SCSI mappings of ``disk_info`` to the instance's partition.

        One mapping per VIOS of :attr:`vios_uuids` that ``stg_ftsk`` covers.
        :param stg_ftsk: a pypowervm FeedTask over the VIOSes; mappings are
            added as subtasks and written when the caller executes it.
        :raises DiskMappingFailed: no VIOS of the feed task can map the disk.
        """
        lpar_uuid = ids.pvm_uuid(instance)
        wanted = set(self.vios_uuids)
        wtasks = [wt for uuid, wt in stg_ftsk.wrapper_tasks.items()
                  if uuid in wanted]
        if not wtasks:
            raise exc.DiskMappingFailed(
                disk=disk_info.name, instance=instance.name,
                reason='none of the Virtual I/O Servers %s is active' %
                ', '.join(self.vios_uuids))

        stg_ref = disk_info
        if isinstance(disk_info, pvm_stg.LUEnt):
            # A mapping holds a reference to the LU, not the Tier child.
            stg_ref = pvm_stg.LU.bld_ref(self.adapter, disk_info.name,
                                         disk_info.udid)

        def add_mapping(vwrap):
            # A rebuild maps the disk into its saved slot.  add_map leaves
            # an existing mapping alone (a look at this partition's
            # mappings only: they grow with the host's partitions).
            slot, lua = slot_map.vscsi_slot(instance, vwrap, disk_info.udid,
                                            boot=True)
            return scsi_maps.map_storage(vwrap, lpar_uuid, stg_ref,
                                         lpar_slot_num=slot, lua=lua)

        for wtask in wtasks:
            wtask.add_functor_subtask(add_mapping)

    def _types_match_func(self, disk_types, instance):
        """A match function for any of the instance's ``disk_types``."""
        funcs = [self.disk_match_func(dtype, instance) for dtype in disk_types]
        return lambda stg_elem: any(func(stg_elem) for func in funcs)

    def detach_disk(self, instance, disk_types=(DiskType.BOOT,),
                    with_mgmt=False):
        """Remove the mappings of the instance's disks from every VIOS.

        One POST per VIOS that had a mapping, and one GET of the VIOS feed
        (of the one VIOS when this process kept it, batch.give_back: a
        conditional GET, 304 and no body when it did not change).
        :param disk_types: which of the instance's disks (boot, rescue).
        :param with_mgmt: also their mappings to the management partition
            (destroy: a snapshot's, see snapshot_cancel), in the same POST.
        :return: the storage elements that were mapped (for
            :meth:`delete_disks`), each once.
        """
        clients = [ids.pvm_uuid(instance)]
        if with_mgmt:
            clients.append(mgmt.mgmt_uuid(self.adapter))
        match = self._types_match_func(disk_types, instance)

        def remove(vwrap):
            # Only these partitions' mappings are looked at (they grow with
            # the host's partitions); no POST when none was removed.
            return [smap.backing_storage for client in clients for smap in
                    scsi_maps.remove_maps(vwrap, client, match_func=match)]

        removed = []
        for uuid, vwrap in self._own_vioses():
            _answer, gone = batch.update(
                batch.vios_key(uuid, _SMAP_XAG), self._vios_getter(uuid),
                remove, wrapper=vwrap, name='detach_disk_%s' % uuid,
                owned=True, answer=None, reuse=True)
            for stg_elem in gone or ():
                if stg_elem not in removed:
                    removed.append(stg_elem)
        return removed

    def find_disks(self, instance, disk_types):
        """The instance's disks of ``disk_types``, mapped or not.

        For putting back what a partly failed :meth:`detach_disk` removed:
        those some VIOS still maps (one GET), else :meth:`boot_disks`.
        """
        found = []
        for dtype in disk_types:
            for stg_elem, _vwrap in self.instance_disk_iter(instance, dtype):
                if stg_elem not in found:
                    found.append(stg_elem)
        return found or self.boot_disks(instance, disk_types=disk_types)

    def map_disks(self, instance, storage_elems):
        """Map ``storage_elems`` to the instance's partition now.

        Undoes :meth:`detach_disk` (a failed unrescue puts the rescue disk
        back).  One GET of the VIOS feed plus one POST per VIOS.
        """
        if not storage_elems:
            return
        ftsk = pvm_tx.FeedTask('map_disks', pvm_vios.VIOS.getter(
            self.adapter, xag=[pvm_const.XAG.VIO_SMAP]))
        for stg_elem in storage_elems:
            self.attach_disk(instance, stg_elem, ftsk)
        ftsk.execute()

    # -- mapping the boot disk to the management partition (snapshot) -------

    def connect_instance_disk_to_mgmt(self, instance, mgmt_uuid):
        """Map the instance's boot disk to the management partition.

        Tries each VIOS until one maps the disk and succeeds: one POST, and
        the VIOS as this process kept it (a conditional GET) or one GET of
        the feed (:meth:`_own_vioses`).  A change whose answer was lost is
        retried on a new read (batch.update), not made twice.
        :return: ``(storage_elem, vios_wrapper, mapping)``: the wrapper is
            the server's answer, lent (for :meth:`disconnect_disk_from_mgmt`)
            and ``mapping`` the new VSCSIMapping in it (for
            ``mgmt.discover_vscsi_disk``).
        :raises InstanceDiskMappingFailed: no boot disk, or no VIOS could
            map it.
        """
        lpar_uuid = ids.pvm_uuid(instance)
        match = self.disk_match_func(DiskType.BOOT, instance)
        errors = []
        for uuid, vwrap in self._own_vioses():
            found = []

            def add(vwrap):
                del found[:]
                for smap in scsi_maps.find_maps(vwrap, lpar_uuid,
                                                match_func=match):
                    found.append(smap.backing_storage)
                    return _add_mgmt_map(vwrap, mgmt_uuid, found[0])
                return None
            key = batch.vios_key(uuid, _SMAP_XAG)
            try:
                vwrap, _made = batch.update(
                    key, self._vios_getter(uuid), add, wrapper=vwrap,
                    name='disk_to_mgmt_%s' % uuid, owned=True,
                    answer=batch.LEND, reuse=True)
            except Exception as e:
                LOG.warning('Mapping the boot disk of %(inst)s to the '
                            'management partition through VIOS %(vios)s '
                            'failed: %(err)s', {'inst': instance.name,
                                                'vios': uuid, 'err': e})
                errors.append(str(e))
                continue
            maps = found and scsi_maps.find_maps(vwrap, mgmt_uuid,
                                                 stg_elem=found[0])
            if maps:
                return found[0], vwrap, maps[0]
            if found:
                errors.append('VIOS %s did not report the new mapping' %
                              vwrap.name)
            else:
                # Not this VIOS's disk: the slot may keep the wrapper.
                batch.give_back(self.adapter, key, vwrap)
        raise exc.InstanceDiskMappingFailed(
            instance=instance.name,
            reason='; '.join(errors) or 'no boot disk mapping found')

    def disconnect_disk_from_mgmt(self, vios_wrap, disk_name, mgmt_uuid):
        """Remove the mapping of ``disk_name`` to the management partition.

        Idempotent.  ``vios_wrap``: a VIOS wrapper, handed over (one POST;
        re-read on etag mismatch), or a VIOS UUID (the VIOS as this process
        kept it, a conditional GET, else a GET).  The slot keeps the answer.
        """
        if isinstance(vios_wrap, pvm_vios.VIOS):
            uuid, vwrap = vios_wrap.uuid, vios_wrap
        else:
            uuid, vwrap = vios_wrap, None

        def match(stg_elem):
            return (isinstance(stg_elem, (pvm_stg.VDisk, pvm_stg.LU)) and
                    stg_elem.name == disk_name)

        def remove(vwrap):
            return scsi_maps.remove_maps(vwrap, mgmt_uuid, match_func=match)
        batch.update(batch.vios_key(uuid, _SMAP_XAG), self._vios_getter(uuid),
                     remove, wrapper=vwrap, name='disk_from_mgmt_%s' % uuid,
                     owned=True, answer=None, reuse=True)


def _add_mgmt_map(vwrap, mgmt_uuid, stg_elem):
    """WrapperTask subtask: add a mapping of stg_elem to the mgmt partition.

    Returns a false value (no update) if the mapping already exists.
    """
    return scsi_maps.map_storage(vwrap, mgmt_uuid, stg_elem)
