"""The interface every ephemeral disk driver implements.

The compute driver picks an implementation from ``[powervm] disk_driver``
(see :func:`get_disk_driver`) and only ever talks to this interface.
"""
import abc

from oslo_utils import importutils

from nova_powervm import conf as cfg

CONF = cfg.CONF

DISK_DRIVERS = {
    'localdisk': 'nova_powervm.virt.powervm.disk.localdisk.LocalStorage',
    'ssp': 'nova_powervm.virt.powervm.disk.ssp.SSPDiskAdapter',
}


class DiskType(object):
    BOOT = 'boot'
    IMAGE = 'image'


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

    def __init__(self, adapter, host_uuid):
        self.adapter = adapter
        self.host_uuid = host_uuid

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
    def create_disk_from_image(self, context, instance, image_meta):
        """Create the boot disk of ``instance`` holding the image's bytes.

        The image is streamed from nova's image API, never held whole in
        memory.  :return: the pypowervm storage wrapper of the new disk.
        """

    @abc.abstractmethod
    def attach_disk(self, instance, disk_info, stg_ftsk):
        """Queue SCSI mappings of ``disk_info`` to the instance's partition.

        :param stg_ftsk: a pypowervm FeedTask over the VIOSes; mappings are
            added as subtasks and written when the caller executes it.
        """

    @abc.abstractmethod
    def detach_disk(self, instance):
        """Remove the instance's disk mappings.

        :return: the storage elements that were mapped (for
            :meth:`delete_disks`).
        """

    @abc.abstractmethod
    def delete_disks(self, storage_elems):
        """Delete the given storage elements (no-op for an empty list)."""

    def get_bootdisk_storage(self, instance):
        """The storage wrapper of the instance's boot disk, or None."""
        raise NotImplementedError()

    def extend_disk(self, instance, disk_info, size_gb):
        """Grow the instance's boot disk to ``size_gb``."""
        raise NotImplementedError()

    def manage_image_cache(self, context, all_instances):
        """Remove cached images that no instance in ``all_instances`` uses."""
