"""Config drive on virtual optical media.

The ISO is built with nova's ConfigDriveBuilder under
``[powervm] image_meta_local_path``, streamed into the virtual optical media
repository of a Virtual I/O Server (created in
``vopt_media_volume_group`` when none exists) and mapped to the partition
through the flow's VIOS FeedTask; the local ISO is always removed.
"""
import copy
import os
import threading
import weakref

from nova.api.metadata import base as instance_metadata
from nova import exception as nova_exc
from nova.network import model as network_model
from nova.virt import configdrive
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.tasks import vopt as tsk_vopt
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios
from taskflow import task as tf_task

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import image as pvm_image
from nova_powervm.virt.powervm import scsi_maps
from nova_powervm.virt.powervm import vif as pvm_vif

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

_LLA_SUBNET = 'fe80::/64'
_PREFIX = 'cfg_'


# adapter -> (vios_uuid, vg_uuid) of the media repository, once found.
_repos = weakref.WeakKeyDictionary()
_repo_lock = threading.Lock()


def media_name(instance):
    """Virtual optical media name of an instance's config drive.

    Unique (from the instance UUID) and within PowerVM's 37-character limit.
    """
    return _PREFIX + instance.uuid.replace('-', '')[
        :pvm_const.MaxLen.VOPT_NAME - len(_PREFIX)]


def _repository(adapter, refresh=False):
    """(vios_uuid, vg_uuid) of the media repository (created if absent).

    Cached per adapter; looked up again after a failure.
    """
    with _repo_lock:
        repo = _repos.get(adapter)
        if repo is None or refresh:
            try:
                repo = _repos[adapter] = tsk_vopt.validate_vopt_repo_exists(
                    adapter, CONF.powervm.vopt_media_volume_group,
                    CONF.powervm.vopt_media_rep_size)
            except pvm_exc.NoMediaRepoVolumeGroupFound:
                raise exc.NoMediaRepository(
                    vg=CONF.powervm.vopt_media_volume_group)
        return repo


def reset_cache(adapter):
    with _repo_lock:
        _repos.pop(adapter, None)


def mac_to_link_local(mac):
    """EUI-64 IPv6 link-local address of a MAC (RFC 4291 appendix A)."""
    octets = [int(x, 16) for x in pvm_vif.norm_mac(mac).split(':')]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xff, 0xfe] + octets[3:]
    groups = ['%x' % (eui[i] << 8 | eui[i + 1]) for i in range(0, 8, 2)]
    return 'fe80::' + ':'.join(groups)


def mgmt_cna_to_vif(cna):
    """A network_info VIF for the RMC adapter (IPv6 link-local scheme)."""
    mac = pvm_vif.norm_mac(cna.mac)
    subnet = network_model.Subnet(
        version=6, cidr=_LLA_SUBNET,
        ips=[network_model.FixedIP(address=mac_to_link_local(mac))])
    network = network_model.Network(id='mgmt', subnets=[subnet],
                                    injected='yes')
    return network_model.VIF(id='mgmt_vif', address=mac, network=network)


def _build_iso(instance, injected_files, network_info, admin_pass, path):
    extra_md = {}
    if admin_pass is not None:
        extra_md['admin_pass'] = admin_pass
    inst_md = instance_metadata.InstanceMetadata(
        instance, content=injected_files, extra_md=extra_md,
        network_info=network_info)
    with configdrive.ConfigDriveBuilder(instance_md=inst_md) as cdb:
        LOG.info('Building the config drive of instance %(inst)s at '
                 '%(path)s.', {'inst': instance.name, 'path': path})
        cdb.make_drive(path)


def create_cfg_drive(adapter, instance, injected_files, network_info,
                     stg_ftsk=None, admin_pass=None, mgmt_cna=None):
    """Build, upload and map the config drive of an instance.

    :param stg_ftsk: the flow's VIOS FeedTask: the mapping is queued on it
        (one etag-safe VIOS update with the flow's other mappings).  None
        maps at once.
    :param mgmt_cna: the RMC management CNA; with ``use_rmc_ipv6_scheme``
        it is described to the guest with an IPv6 link-local address.
    :return: the media name.
    """
    name = media_name(instance)
    if mgmt_cna is not None and CONF.powervm.use_rmc_ipv6_scheme:
        network_info = copy.deepcopy(network_info or [])
        network_info.append(mgmt_cna_to_vif(mgmt_cna))

    os.makedirs(CONF.powervm.image_meta_local_path, exist_ok=True)
    path = os.path.join(CONF.powervm.image_meta_local_path, name + '.iso')
    vios_uuid, _vg = _repository(adapter)
    uploading = False
    try:
        _build_iso(instance, injected_files, network_info, admin_pass, path)
        size = os.path.getsize(path)
        uploading = True

        def upload():
            with open(path, 'rb') as stream:
                return tsk_stg.upload_vopt(adapter, vios_uuid, stream, name,
                                           f_size=size)
        vopt, leftover = pvm_image.retry_upload(
            adapter, upload, what='config drive upload',
            between=lambda: _cleanup_failed_upload(adapter, name))
        pvm_image.remove_upload_metadata(leftover)
    except Exception as e:
        if uploading:
            _cleanup_failed_upload(adapter, name)
        if isinstance(e, nova_exc.NovaException):
            raise
        raise exc.ConfigDriveFailed(instance=instance.name, reason=str(e))
    finally:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    lpar_uuid = ids.pvm_uuid(instance)

    def _add_map(vios_w):
        LOG.info('Mapping config drive %(media)s of instance %(inst)s '
                 'through Virtual I/O Server %(vios)s.',
                 {'media': name, 'inst': instance.name, 'vios': vios_w.name})
        return scsi_maps.map_storage(vios_w, lpar_uuid, vopt)

    if stg_ftsk is not None and vios_uuid in stg_ftsk.wrapper_tasks:
        stg_ftsk.wrapper_tasks[vios_uuid].add_functor_subtask(_add_map)
    else:
        _change_vios(adapter, vios_uuid, _add_map, 'cfg_drive_map')
    return name


def _change_vios(adapter, vios_uuid, func, name):
    """Apply ``func`` to the VIOS (SCSI mappings), POST if it says so.

    From the wrapper this process kept of it (a conditional GET) or a GET;
    the answer is kept for the next change (batch).
    """
    xag = [pvm_const.XAG.VIO_SMAP]
    batch.update(batch.vios_key(vios_uuid, xag), pvm_vios.VIOS.getter(
        adapter, entry_uuid=vios_uuid, xag=xag), func, name=name,
        answer=None, reuse=True)


def _cleanup_failed_upload(adapter, name):
    """Remove partial media; forget the repository (it may have moved)."""
    try:
        _remove_media(adapter, name)
    except Exception:
        LOG.warning('Could not remove virtual optical media %s after a '
                    'failed upload.', name, exc_info=True)
    else:
        # The File's creation may have been made and its answer lost.
        pvm_image.remove_upload_files(adapter, name,
                                      _repository(adapter)[0])
    reset_cache(adapter)


def _match_media(name):
    return tsk_map.gen_match_func(pvm_stg.VOptMedia, name_prop='media_name',
                                  names=[name])


def _remove_media(adapter, name):
    """Delete the named media from the repository (absent is fine)."""
    vios_uuid, vg_uuid = _repository(adapter)
    try:
        vg_w = pvm_stg.VG.get(adapter, uuid=vg_uuid,
                              parent_type=pvm_vios.VIOS,
                              parent_uuid=vios_uuid)
    except pvm_exc.HttpNotFound:
        vios_uuid, vg_uuid = _repository(adapter, refresh=True)
        vg_w = pvm_stg.VG.get(adapter, uuid=vg_uuid,
                              parent_type=pvm_vios.VIOS,
                              parent_uuid=vios_uuid)
    if not vg_w.vmedia_repos:
        return
    media = [m for m in vg_w.vmedia_repos[0].optical_media
             if m.media_name == name]
    if media:
        LOG.info('Deleting virtual optical media %s.', name)
        tsk_stg.rm_vg_storage(vg_w, vopts=media)


def delete_cfg_drive(adapter, instance, stg_ftsk=None):
    """Remove the config drive's mapping and media.  Idempotent.

    :param stg_ftsk: the flow's VIOS FeedTask: the unmapping is queued on it
        and the media is deleted after it runs.  None does both at once.
    """
    name = media_name(instance)
    lpar_uuid = ids.pvm_uuid(instance)
    match = _match_media(name)
    try:
        vios_uuid, _vg = _repository(adapter)
    except exc.NoMediaRepository:
        # No repository anywhere: no media can exist; nothing to remove.
        LOG.info('No virtual optical media repository; no config drive to '
                 'remove.', instance=instance)
        return

    def _rm_maps(vios_w):
        return scsi_maps.remove_maps(vios_w, lpar_uuid, match_func=match)

    if stg_ftsk is not None:
        stg_ftsk.add_functor_subtask(_rm_maps)
        stg_ftsk.add_post_execute(_DeleteMediaAfterUnmap(adapter, name))
        return
    _change_vios(adapter, vios_uuid, _rm_maps, 'cfg_drive_unmap')
    _remove_media(adapter, name)


class _DeleteMediaAfterUnmap(tf_task.Task):
    """Post-execute of the VIOS FeedTask: delete media once unmapped."""

    def __init__(self, adapter, name):
        super().__init__(name='rm_vopt_%s' % name)
        self.adapter = adapter
        self.media = name

    def execute(self):
        _remove_media(self.adapter, self.media)
