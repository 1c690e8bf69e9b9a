"""A cold migration's checks on the target host, before anything moves.

nova calls no driver method on the target before the source powers the
instance off (``prep_resize`` there only claims resources), so the source
asks the target itself over nova's ``check_instance_shared_storage`` RPC
(the call nova uses to ask a peer about instance storage): a query under
:data:`KEY` (:func:`query`) is answered by :func:`answer` with the reasons
the target cannot take the instance (an empty list: none).  The target
checks that

* a VIOS of it is a member of the boot disk's shared storage pool;
* the new flavor fits its managed system (``host.check_fits``, extra specs);
* each Fibre Channel volume has paths: vSCSI, enough of its VIOSes discover
  the LUN through a Cinder connection made for this host's connector (a
  probe attachment, deleted again; hdisks the probe discovered are removed
  again); NPIV, each fabric has a physical port with a free virtual port on
  an active VIOS (the LUN itself is zoned to the instance's own WWPNs,
  which move with it).
"""
from nova import exception as nova_exc
from nova import objects
from nova.volume import cinder
from oslo_log import log as logging

from nova_powervm.i18n import _
from nova_powervm.virt.powervm import driver_volume
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import host as pvm_host
from nova_powervm.virt.powervm import vm
from nova_powervm.virt.powervm.volume import driver as volume_dvr

LOG = logging.getLogger(__name__)

KEY = 'powervm_move_check'


def query(instance, flavor, ssp_uuid, bdms):
    """The source's question (JSON-serializable).

    :param ssp_uuid: the boot disk's pool (None: boot from volume).
    :param bdms: the driver BDMs of ``block_device_info``.
    """
    vols = []
    for bdm in bdms:
        cinfo = bdm.get('connection_info') or {}
        if cinfo.get('driver_volume_type') in volume_dvr.FC_TYPES:
            vols.append({'volume_id': (cinfo.get('data') or {}).get(
                'volume_id') or cinfo.get('serial')})
    return {'instance_uuid': instance.uuid, 'ssp_uuid': ssp_uuid,
            'flavor': flavor.obj_to_primitive(), 'fc_volumes': vols}


def answer(drv, context, question):
    """The target's reasons to refuse the instance ([]: none).

    Never raises: a check that fails is itself a reason.
    """
    reasons = []
    try:
        instance = objects.Instance.get_by_uuid(
            context, question['instance_uuid'],
            expected_attrs=['flavor', 'system_metadata'])
        flavor = question['flavor']
        if not isinstance(flavor, objects.Flavor):
            # (nova's RPC serializer makes it an object again)
            flavor = objects.Flavor.obj_from_primitive(flavor)
        ssp = question.get('ssp_uuid')
        if ssp and ssp != pool_of(drv):
            reasons.append(_('it is not a member of the shared storage pool '
                             '%s of the boot disk') % ssp)
        reasons.extend(_fits(drv, instance, flavor))
        reasons.extend(_fc_paths(drv, context, instance,
                                 question.get('fc_volumes') or []))
    except Exception as e:
        LOG.exception('Checking the migration of instance %s to this host '
                      'failed.', question.get('instance_uuid'))
        reasons.append(_('its check failed: %s') % e)
    return reasons


def pool_of(drv):
    """UUID of the shared storage pool a VIOS of this host is a member of
    now (None: none; disk driver not ssp).
    """
    dvr = drv.disk_dvr
    if getattr(dvr, 'ssp_uuid', None) and dvr.member_now():
        return dvr.ssp_uuid
    return None


def fit_error(drv, instance, flavor):
    """Why a partition of ``flavor`` cannot be made on this host (the
    exception), or None when it fits.  Reads nothing.
    """
    try:
        lpar_w = vm.build_lpar(drv.adapter, drv.host_wrapper, instance,
                               flavor)
        pvm_host.check_fits(drv.host_wrapper, lpar_w, instance)
    except (exc.InvalidFlavorExtraSpec,
            nova_exc.ComputeResourcesUnavailable) as e:
        return e
    return None


def _fits(drv, instance, flavor):
    instance.flavor = flavor        # (a local copy; never saved)
    error = fit_error(drv, instance, flavor)
    return [str(error)] if error else []


def _fc_paths(drv, context, instance, vols):
    """Reasons some Fibre Channel volume has no path from this host."""
    if not vols:
        return []
    cls = volume_dvr.fc_adapter_class()
    if cls.vol_type() == 'npiv':
        # The instance's virtual ports: one check for all its volumes.
        why = cls.check_host_paths(drv.adapter)
        return [why] if why else []
    reasons = []
    api = cinder.API()
    connector = driver_volume.connector(drv, instance)
    for vol in vols:
        why = _probe(drv, api, context, instance, connector, vol['volume_id'])
        if why:
            reasons.append(why)
    return reasons


def _probe(drv, api, context, instance, connector, volume_id):
    """vSCSI: discover the LUN as Cinder exports it to this host."""
    att = api.attachment_create(context, volume_id, instance.uuid,
                                connector=connector)
    try:
        vol_drv = driver_volume.build(drv, instance, att['connection_info'])
        return vol_drv.check_paths()
    finally:
        try:
            api.attachment_delete(context, att['id'])
        except Exception:
            LOG.warning('Could not delete the probe attachment %(att)s of '
                        'volume %(vol)s.', {'att': att['id'],
                                            'vol': volume_id}, exc_info=True)
