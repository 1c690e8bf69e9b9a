"""File I/O connectors: Cinder's ``local``, ``nfs`` and ``gpfs`` volumes.

The volume is a file the Virtual I/O Server sees (a local file, or one on
an NFS or GPFS mount of the VIOS); it is mapped to the partition as a
file-backed virtual disk (pypowervm ``stor.FileIO``) through one VIOS: the
management partition when it is a VIOS (NovaLink I/O), otherwise the
active VIOS with the lowest partition ID.  One VIOS only: a file has no
SCSI identity that would let the partition see two paths as one disk.

The base class also serves RBD (``rbd.py``): any disk the VIOS reaches by
name, mapped by a ``VirtualDisk`` reference.
"""
import abc
import os

from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm.virt.powervm import scsi_maps
from nova_powervm.virt.powervm.volume import driver as v_driver

LOG = logging.getLogger(__name__)

FILE_TYPES = ('local', 'nfs', 'gpfs')


def _matcher(name):
    def match(stg):
        return (getattr(stg, 'schema_type', None) == pvm_stor.DISK_ROOT and
                stg.name == name)
    return match


def _add_mapping(vios_w, lpar_uuid, stg_ref, slot=None):
    """Subtask: map the disk to the partition (idempotent)."""
    return scsi_maps.map_storage(vios_w, lpar_uuid, stg_ref,
                                 lpar_slot_num=slot) is not None


def _remove_mapping(vios_w, lpar_uuid, name):
    return bool(scsi_maps.remove_maps(vios_w, lpar_uuid,
                                      match_func=_matcher(name)))


class VdiskRefAdapter(v_driver.VolumeAdapter, metaclass=abc.ABCMeta):
    """Maps a disk the VIOS reaches by name through one VIOS."""

    what = 'disk'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._mapped_on = None
        self._unmapped_slot = None

    @classmethod
    def min_xags(cls):
        return [pvm_const.XAG.VIO_SMAP]

    @classmethod
    def can_live_migrate(cls):
        """No: not built.

        Live Partition Mobility moves vSCSI mappings of disks the target's
        VIOSes find by SCSI identity (hdisks); a file or RBD disk would have
        to be re-created by name on the target's VIOS first.  The source
        check refuses the migration (MigrationPreCheckError).
        """
        return False

    @classmethod
    def get_connector_properties(cls, adapter, host_uuid, instance):
        return {}

    @property
    def _data(self):
        return self.connection_info.setdefault('data', {})

    @abc.abstractmethod
    def disk_name(self, exc_cls=nova_exc.VolumeAttachFailed):
        """The name the VIOS knows the disk by (validated)."""

    @abc.abstractmethod
    def storage_ref(self, name):
        """The pypowervm storage element a mapping references."""

    def _bad(self, exc_cls, why):
        return exc_cls(volume_id=self.volume_id,
                       reason='invalid connection_info: %s' % why)

    def pick_vios(self, feed, name):
        """The VIOS to map through (see the module doc)."""
        feed = sorted(feed, key=lambda v: v.id)
        mgmt = [v for v in feed if v.is_mgmt_partition]
        if mgmt or feed:
            return (mgmt or feed)[0]
        raise nova_exc.VolumeAttachFailed(
            volume_id=self.volume_id, reason='no active Virtual I/O Server')

    def connect_volume(self):
        name = self.disk_name()
        ftsk, run_now = self._feed_task('attach_%s' % self.vol_type())
        vios_w = self.pick_vios(ftsk.feed, name)
        self._mapped_on = vios_w.uuid
        ftsk.wrapper_tasks[vios_w.uuid].add_functor_subtask(
            _add_mapping, self.vm_uuid, self.storage_ref(name),
            slot=self._unmapped_slot,
            logspec=[LOG.info, 'Mapping %s %s of volume %s on VIOS %s',
                     self.what, name, self.volume_id, vios_w.uuid])
        if run_now:
            self._run_connect(ftsk, 'mapping the %s' % self.what)

    def _queue_unmap(self, ftsk, name):
        queued = False
        for vios_w in ftsk.feed:
            maps = scsi_maps.find_maps(vios_w, self.vm_uuid,
                                       match_func=_matcher(name))
            if not maps:
                continue
            if maps[0].client_adapter is not None:
                self._unmapped_slot = maps[0].client_adapter.lpar_slot_num
            ftsk.wrapper_tasks[vios_w.uuid].add_functor_subtask(
                _remove_mapping, self.vm_uuid, name,
                logspec=[LOG.info, 'Unmapping %s %s of volume %s on VIOS %s',
                         self.what, name, self.volume_id, vios_w.uuid])
            queued = True
        return queued

    def disconnect_volume(self):
        name = self.disk_name(nova_exc.VolumeDetachFailed)
        ftsk, run_now = self._feed_task('detach_%s' % self.vol_type(),
                                        nova_exc.VolumeDetachFailed)
        if not self._queue_unmap(ftsk, name):
            LOG.warning('Volume %s is not mapped on any VIOS; nothing to '
                        'detach.', self.volume_id)
            return
        if run_now:
            try:
                ftsk.execute()
            except Exception as exc:
                raise nova_exc.VolumeDetachFailed(
                    volume_id=self.volume_id,
                    reason=v_driver.error_text(exc))

    def revert_connect(self):
        if self._mapped_on is None:
            return
        try:
            ftsk = self._own_feed_task('revert_%s' % self.vol_type(),
                                       nova_exc.VolumeDetachFailed)
            if self._queue_unmap(ftsk, self.disk_name()):
                ftsk.execute()
            self._mapped_on = None
        except Exception:
            LOG.exception('Cleaning up volume %s after a failed attach '
                          'failed.', self.volume_id)

    def extend_volume(self):
        """The VIOS reads the grown file/image's size; check it is mapped."""
        name = self.disk_name(nova_exc.VolumeExtendFailed)
        ftsk = self._own_feed_task('extend_%s' % self.vol_type(),
                                   nova_exc.VolumeExtendFailed)
        if not any(scsi_maps.find_maps(v, self.vm_uuid,
                                       match_func=_matcher(name))
                   for v in ftsk.feed):
            raise nova_exc.VolumeExtendFailed(
                volume_id=self.volume_id,
                reason='no VIOS maps the volume to the instance')


class FileIOVolumeAdapter(VdiskRefAdapter):
    """Cinder ``local``/``nfs``/``gpfs``: a file-backed virtual disk."""

    what = 'file'

    @classmethod
    def vol_type(cls):
        return 'fileio'

    def disk_name(self, exc_cls=nova_exc.VolumeAttachFailed):
        data = self._data
        path = data.get('device_path')
        if not path and data.get('export') and data.get('name'):
            # nfs: the export as the VIOS mounts it, and the file in it.
            path = os.path.join(data['export'], data['name'])
        if not path:
            raise self._bad(exc_cls, 'no device_path (or NFS export and '
                                     'name)')
        if not os.path.isabs(path) or '..' in path.split('/'):
            raise self._bad(exc_cls, 'volume file %r is not an absolute '
                                     'path on the Virtual I/O Server' % path)
        return os.path.normpath(path)

    def storage_ref(self, name):
        return pvm_stor.FileIO.bld_ref(
            self.adapter, name, backstore_type=pvm_stor.BackStoreType.FILE_IO,
            tag=self.volume_id)
