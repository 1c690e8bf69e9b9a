"""VIF drivers: connect a partition to Neutron ports.

One small interface keyed by ``vif['type']``:

- ``pvm_sea``: a client network adapter (CNA) with the port's VLAN (which
  it must have) as its PVID on the virtual switch of the port's physical
  network (a vswitch of that name, else the default ``ETHERNET0``); the
  Shared Ethernet Adapter (network bridge) of that vswitch carries it to the
  physical network.
- ``ovs``: a CNA paired with a trunk adapter on the NovaLink management
  partition on ``[powervm] pvm_vswitch_for_novalink_io``, both on a VLAN
  that is free on that vswitch; the trunk's Linux device (named like nova's
  tap devices) is plugged into Open vSwitch through os-vif.

Virtual switch and management partition lookups are cached per adapter
(host_net.py), so a plug costs one REST request per adapter created once the
cache is warm.
"""
import collections
import copy
import threading

from nova import exception as nova_exc
from nova.network import model as network_model
from nova.network import os_vif_util
import os_vif
from os_vif import objects as osv_objects
from oslo_concurrency import lockutils
from oslo_log import log as logging
from pypowervm import entities as pvm_ent
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import cna as pvm_cna
from pypowervm.wrappers import managed_system as pvm_ms
from pypowervm.wrappers import network as pvm_net

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import host_net
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import sea_vlan
from nova_powervm.virt.powervm import slot_map
from nova_powervm.virt.powervm import vif_sriov

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

VIF_TYPE_PVM_SEA = 'pvm_sea'
VIF_TYPE_OVS = network_model.VIF_TYPE_OVS

SECURE_RMC_VSWITCH = 'MGMTSWITCH'
SECURE_RMC_VLAN = 4094

# CNAs built (:func:`build_cna`): {(adapter, PVID, vswitch URI): CNA}.
_CNAS_MAX = 64
_cnas_lock = threading.Lock()
_cnas = collections.OrderedDict()


class Plugged(object):
    """What one plug created: the client adapter and any trunk adapters."""

    def __init__(self, vif, cna, trunks=()):
        self.vif = vif
        self.cna = cna
        self.trunks = list(trunks)


def reset_cache(adapter=None):
    """Forget cached topology, SEA VLANs, built CNAs (all adapters, or one).
    """
    host_net.reset_cache(adapter)
    sea_vlan.reset_cache(adapter)
    with _cnas_lock:
        for key in [k for k in _cnas if adapter in (None, k[0])]:
            del _cnas[key]


# Helpers.
def norm_mac(mac):
    """'AABBCCDDEEFF' or 'aa:bb:..' -> 'aa:bb:cc:dd:ee:ff'."""
    raw = mac.replace(':', '').lower()
    return ':'.join(raw[i:i + 2] for i in range(0, len(raw), 2))


def _uuid_of(href):
    return href.rstrip('/').rsplit('/', 1)[-1].split('?')[0].lower()


def on_vswitch(cna, vswitch):
    """Whether a CNA wrapper sits on the given VSwitch wrapper."""
    uri = cna.vswitch_uri
    return bool(uri) and _uuid_of(uri) == vswitch.uuid.lower()


def _port(vif):
    return vif.get('id') or vif.get('address')


def _devname(vif):
    """Host device name of the trunk adapter (os-vif's vif_name rule)."""
    return (vif.get('devname') or
            ('nic' + vif['id'])[:network_model.NIC_NAME_LEN])


def _physnet(vif):
    net = vif.get('network') or {}
    meta = net.get('meta') or {}
    return (meta.get('physical_network') or
            (vif.get('details') or {}).get(
                network_model.VIF_DETAILS_PHYSICAL_NETWORK))


def validate(instance, vif):
    """Check a VIF before anything is created; raise a nova exception."""
    vif_type = vif.get('type')
    if vif_type not in _DRIVERS:
        raise exc.VifTypeNotSupported(port=_port(vif), instance=instance.name,
                                  vif_type=vif_type,
                                  supported=', '.join(sorted(_DRIVERS)))
    if not vif.get('address'):
        raise exc.VifInvalid(port=_port(vif), instance=instance.name,
                         reason=_('the port has no MAC address'))
    _DRIVERS[vif_type].validate(instance, vif)


def _delete_quietly(wrapper):
    """Delete a wrapper; a 404 means it is already gone."""
    try:
        wrapper.delete()
    except pvm_exc.HttpNotFound:
        pass


def get_cnas(adapter, instance):
    """Client network adapters of the instance's partition ([] if gone)."""
    return ids.partition_children(pvm_net.CNA, adapter, instance)


def build_cna(adapter, pvid, vswitch_href, mac):
    """``pvm_net.CNA.bld(adapter, pvid, vswitch_href, mac_addr=mac)``.

    pypowervm's builder places each element in schema order (about 0.28 ms
    of CPU); a copy of a CNA built before with the same adapter, PVID and
    vswitch, given the new MAC, is the same XML (about 0.015 ms).
    """
    key = (adapter, pvid, vswitch_href)
    with _cnas_lock:
        found = _cnas.get(key)
        if found is not None:
            _cnas.move_to_end(key)
    if found is None:
        cna = pvm_net.CNA.bld(adapter, pvid, vswitch_href, mac_addr=mac)
        if isinstance(cna, pvm_net.CNA):
            with _cnas_lock:
                _cnas[key] = _copy(cna)
                while len(_cnas) > _CNAS_MAX:
                    _cnas.popitem(last=False)
        return cna
    cna = _copy(found)
    cna.mac = mac
    return cna


def _copy(wrapper):
    entry = wrapper.entry
    return type(wrapper).wrap(pvm_ent.Entry(
        copy.deepcopy(entry.properties), copy.deepcopy(entry.element.element),
        entry.adapter))


def _create_on_partition(cna, instance, lpar_wrap=None):
    """PUT a built CNA under the partition (its wrapper spares a GET)."""
    return ids.create_on_partition(slot_map.place_cna(instance, cna),
                                   instance, lpar_wrap)


def _find_cna(cna_list, vif):
    mac = norm_mac(vif['address'])
    for cna in cna_list:
        if cna.mac and norm_mac(cna.mac) == mac:
            return cna
    return None


# Drivers.
class _SeaDriver(object):
    """pvm_sea: a CNA on the physical network's vswitch, PVID = VLAN."""

    @staticmethod
    def validate(instance, vif):
        sea_vlan.port_vlan(instance, vif)

    @staticmethod
    def vswitch(adapter, instance, vif, host_uuid=None):
        """The port's physical network's vswitch, else ETHERNET0."""
        physnet = _physnet(vif)
        vsw = None
        if physnet:
            vsw = host_net.get_vswitch(adapter, physnet, host_uuid=host_uuid)
        if vsw is None:
            vsw = host_net.get_vswitch(adapter, pvm_net.VSW_DEFAULT_VSWITCH,
                                       host_uuid=host_uuid)
        if vsw is None:
            raise exc.VifPlugFailed(
                port=_port(vif), vif_type=vif['type'],
                instance=instance.name,
                reason=_('no virtual switch %(vsw)s for physical network '
                         '%(net)s') % {'vsw': pvm_net.VSW_DEFAULT_VSWITCH,
                                       'net': physnet})
        return vsw

    @classmethod
    def plug(cls, adapter, instance, vif, host_uuid=None, lpar_wrap=None):
        vsw, vlan = ensure_sea_vlan(adapter, instance, vif, host_uuid)
        LOG.info('Plugging port %(port)s (VLAN %(vlan)s, vswitch %(vsw)s) '
                 'into instance %(inst)s.',
                 {'port': _port(vif), 'vlan': vlan, 'vsw': vsw.name,
                  'inst': instance.name})
        cna = build_cna(adapter, vlan, vsw.related_href, vif['address'])
        return Plugged(vif, _create_on_partition(cna, instance, lpar_wrap))

    @staticmethod
    def unplug(adapter, instance, vif, cna):
        if cna is not None:
            _delete_quietly(cna)


class _OvsDriver(object):
    """ovs: CNA + trunk on the NovaLink partition, trunk plugged into OVS."""

    @staticmethod
    def validate(instance, vif):
        if not vif.get('id'):
            raise exc.VifInvalid(port=_port(vif), instance=instance.name,
                             reason=_('an ovs port needs an id'))

    @staticmethod
    def _osvif(instance, vif):
        """The os-vif objects: a direct (non-hybrid) OVS port we create."""
        vif = copy.copy(vif)
        vif['details'] = dict(vif.get('details') or {})
        vif['details'][network_model.VIF_DETAILS_OVS_HYBRID_PLUG] = False
        vif['devname'] = _devname(vif)
        # os-vif only adds the port to the bridge itself when asked to.
        vif['delegate_create'] = True
        osv_objects.register_all()
        return (os_vif_util.nova_to_osvif_vif(vif),
                os_vif_util.nova_to_osvif_instance(instance))

    @staticmethod
    def _free_vlan(adapter, host_uuid, vsw, instance, vif):
        vnets = pvm_net.VNet.get(adapter, parent_type=pvm_ms.System,
                                 parent_uuid=host_uuid)
        used = {vnet.vlan for vnet in vnets
                if vnet.associated_switch_uri and
                _uuid_of(vnet.associated_switch_uri) == vsw.uuid.lower()}
        for vlan in range(1, 4094):
            if vlan not in used:
                return vlan
        raise exc.VifPlugFailed(port=_port(vif), vif_type=VIF_TYPE_OVS,
                            instance=instance.name,
                            reason=_('no free VLAN on virtual switch %s') %
                            vsw.name)

    @classmethod
    def plug(cls, adapter, instance, vif, host_uuid=None, lpar_wrap=None):
        vsw = host_net.get_vswitch(
            adapter, CONF.powervm.pvm_vswitch_for_novalink_io, create=True,
            host_uuid=host_uuid)
        mgmt = host_net.mgmt_partition(adapter)
        mtu = (vif.get('network') or {}).get('meta', {}).get('mtu')
        dev = _devname(vif)
        # Same lock as pypowervm's own free-VLAN helpers: the VLAN is taken
        # only once the trunk exists.
        with lockutils.lock(pvm_cna.VLAN_LOCK):
            vlan = cls._free_vlan(adapter,
                                  host_net.host_uuid(adapter, host_uuid),
                                  vsw, instance, vif)
            trunk = pvm_net.CNA.bld(adapter, vlan, vsw.related_href,
                                    trunk_pri=1, dev_name=dev,
                                    configured_mtu=mtu)
            trunk = trunk.create(parent=mgmt)
        plugged = Plugged(vif, None, [trunk])
        try:
            cna = pvm_net.CNA.bld(adapter, vlan, vsw.related_href,
                                  mac_addr=vif['address'])
            plugged.cna = _create_on_partition(cna, instance, lpar_wrap)
            LOG.info('Plugging trunk device %(dev)s of port %(port)s into '
                     'Open vSwitch bridge %(br)s.',
                     {'dev': dev, 'port': _port(vif),
                      'br': vif['network'].get('bridge')})
            _init_os_vif()
            os_vif.plug(*cls._osvif(instance, vif))
        except Exception:
            cls.unplug(adapter, instance, vif, plugged.cna,
                       trunks=plugged.trunks, ovs=plugged.cna is not None)
            raise
        return plugged

    @classmethod
    def unplug(cls, adapter, instance, vif, cna, trunks=None, ovs=True,
               mgmt_cnas=None, keep_client=False):
        if trunks is None:
            trunks = cls._find_trunks(adapter, vif, cna, mgmt_cnas)
        # The partition's adapter first: if that fails, nothing changed.
        if cna is not None and not keep_client:
            _delete_quietly(cna)
        if ovs:
            try:
                _init_os_vif()
                os_vif.unplug(*cls._osvif(instance, vif))
            except Exception:
                LOG.warning('Removing port %(port)s from Open vSwitch '
                            'failed; continuing.', {'port': _port(vif)},
                            exc_info=True)
        for trunk in trunks:
            _delete_quietly(trunk)

    @staticmethod
    def _find_trunks(adapter, vif, cna, mgmt_cnas=None):
        if mgmt_cnas is None:
            mgmt_cnas = host_net.mgmt_adapters(adapter)
        dev = _devname(vif)
        found = []
        for trunk in mgmt_cnas:
            if not trunk.is_trunk:
                continue
            if cna is not None and (trunk.pvid == cna.pvid and
                                    trunk.vswitch_uri and cna.vswitch_uri and
                                    _uuid_of(trunk.vswitch_uri) ==
                                    _uuid_of(cna.vswitch_uri)):
                found.append(trunk)
            elif trunk.dev_name == dev:
                found.append(trunk)
        return found


_DRIVERS = {VIF_TYPE_PVM_SEA: _SeaDriver, VIF_TYPE_OVS: _OvsDriver,
            vif_sriov.VIF_TYPE_PVM_SRIOV: vif_sriov.SriovDriver}

_OS_VIF_LOCK = threading.Lock()
_os_vif_ready = False


def _init_os_vif():
    global _os_vif_ready
    with _OS_VIF_LOCK:
        if not _os_vif_ready:
            os_vif.initialize()
            _os_vif_ready = True


# Public entry points.
def plug(adapter, instance, vif, host_uuid=None, lpar_wrap=None):
    """Create the adapter(s) for one VIF.

    :param lpar_wrap: the partition's wrapper if at hand (saves requests).

    :return: a :class:`Plugged` with the created client (and trunk) adapters.
    :raises VirtualInterfacePlugException: unsupported or invalid VIF
        (before any change), or the REST failure.
    """
    validate(instance, vif)
    try:
        return _DRIVERS[vif['type']].plug(
            adapter, instance, vif, lpar_wrap=lpar_wrap,
            host_uuid=host_uuid or getattr(lpar_wrap, 'assoc_sys_uuid', None))
    except nova_exc.NovaException:
        raise
    except pvm_exc.Error as e:
        raise exc.VifPlugFailed(port=_port(vif), vif_type=vif['type'],
                            instance=instance.name, reason=str(e))


def unplug_plugged(adapter, instance, plugged):
    """Remove exactly what one :func:`plug` created."""
    drv = _DRIVERS[plugged.vif['type']]
    if hasattr(drv, 'unplug_plugged'):
        drv.unplug_plugged(adapter, instance, plugged)
    elif drv is _OvsDriver:
        drv.unplug(adapter, instance, plugged.vif, plugged.cna,
                   trunks=plugged.trunks)
    else:
        drv.unplug(adapter, instance, plugged.vif, plugged.cna)


def unplug(adapter, instance, vif, cna_list=None, mgmt_cnas=None,
           keep_client=False):
    """Remove a VIF's adapters (trunks too).  Idempotent.

    :param cna_list: the partition's CNAs if already read.
    :param mgmt_cnas: the NovaLink partition's CNAs if already read.
    :param keep_client: leave the partition's own adapter (it goes with the
        partition); remove only host-side pieces.
    :return: the removed client CNA wrapper, or None if it was not there.
    """
    if cna_list is None:
        cna_list = get_cnas(adapter, instance)
    cna = _find_cna(cna_list, vif)
    drv = _DRIVERS.get(vif.get('type'))
    if drv is None:
        # Nothing of an unknown type can have been plugged by us, except a
        # CNA with its MAC; remove that.
        if cna is not None:
            _delete_quietly(cna)
        return cna
    if cna is None and drv is _SeaDriver:
        LOG.info('Port %(port)s has no adapter on instance %(inst)s; '
                 'nothing to unplug.',
                 {'port': _port(vif), 'inst': instance.name})
        return None
    try:
        if drv is _OvsDriver:
            drv.unplug(adapter, instance, vif, cna, mgmt_cnas=mgmt_cnas,
                       keep_client=keep_client)
        elif not keep_client:
            drv.unplug(adapter, instance, vif, cna)
    except pvm_exc.Error as e:
        raise exc.VifUnplugFailed(port=_port(vif), instance=instance.name,
                              reason=str(e))
    return cna


def plug_vifs(adapter, instance, network_info, host_uuid=None,
              cna_list=None, lpar_wrap=None):
    """Plug every VIF not already on the partition.

    Every VIF is validated before anything is created.  If one fails, what
    this call created is removed before the error is raised.

    :param cna_list: the partition's current CNAs; None reads them; pass []
        for a partition known to be new (saves a request).
    :return: list of :class:`Plugged` (only the VIFs plugged by this call).
    """
    for vif in network_info:
        validate(instance, vif)
    if cna_list is None:
        cna_list = get_cnas(adapter, instance)
    done = []
    try:
        for vif in network_info:
            if _find_cna(cna_list, vif) is not None:
                LOG.debug('Port %s already plugged.', _port(vif))
                continue
            done.append(plug(adapter, instance, vif, host_uuid=host_uuid,
                             lpar_wrap=lpar_wrap))
    except Exception:
        unplug_all(adapter, instance, done)
        raise
    return done


def find_cna(adapter, instance, vif, cna_list=None):
    """The partition's client adapter of ``vif`` (None if absent).

    :param cna_list: the partition's CNAs if already read.
    """
    if cna_list is None:
        cna_list = get_cnas(adapter, instance)
    return _find_cna(cna_list, vif)


def unplug_all(adapter, instance, plugged_list):
    """Remove what :func:`plug_vifs` returned (best effort, reverse order)."""
    for plugged in reversed(plugged_list):
        try:
            unplug_plugged(adapter, instance, plugged)
        except Exception:
            LOG.exception('Cleaning up port %(port)s of instance %(inst)s '
                          'failed.', {'port': _port(plugged.vif),
                                      'inst': instance.name})


def unplug_vifs(adapter, instance, network_info, partition_deleted=False):
    """Unplug every VIF.  Idempotent.

    Reads the partition's adapters once (and the NovaLink partition's once
    when there are ovs VIFs).

    :param partition_deleted: the partition is deleted next and takes its
        client adapters with it: only host-side pieces (OVS ports, trunk
        adapters) are removed; no request at all without ovs VIFs.
    """
    if not network_info:
        return
    ovs = [v for v in network_info if v.get('type') == VIF_TYPE_OVS]
    if partition_deleted and not ovs:
        return
    cna_list = get_cnas(adapter, instance)
    mgmt_cnas = host_net.mgmt_adapters(adapter) if ovs else None
    for vif in (ovs if partition_deleted else network_info):
        unplug(adapter, instance, vif, cna_list=cna_list,
               mgmt_cnas=mgmt_cnas, keep_client=partition_deleted)


def plug_mgmt_vif(adapter, instance, vm_cnas=None, host_uuid=None,
                  lpar_wrap=None):
    """Give the partition its RMC management adapter on MGMTSWITCH.

    The vswitch is created when the host has none.  Nothing is created if
    ``vm_cnas`` already holds an adapter on that vswitch.

    :return: the management CNA wrapper.
    """
    with host_net.using_vswitch(adapter, SECURE_RMC_VSWITCH, host_uuid=(
            host_uuid or getattr(lpar_wrap, 'assoc_sys_uuid', None))) as vsw:
        for cna in vm_cnas or []:
            if on_vswitch(cna, vsw):
                return cna
        LOG.info('Creating the RMC management adapter of instance %s.',
                 instance.name)
        cna = pvm_net.CNA.bld(adapter, SECURE_RMC_VLAN, vsw.related_href)
        return _create_on_partition(cna, instance, lpar_wrap)


def unplug_mgmt_vif(cna):
    """Delete the management CNA (idempotent)."""
    if cna is not None:
        _delete_quietly(cna)


def release_sea_vlans(adapter, instance, network_info, tries=1):
    """Remove from the SEAs the VLANs of ``network_info``'s pvm_sea ports
    that no adapter on the host uses any more (best effort, ``tries``).
    """
    pairs = []
    for one in network_info or []:
        if not sea_vlan.driver_releases(one):
            continue
        try:
            pairs.append((_SeaDriver.vswitch(adapter, instance, one),
                          sea_vlan.port_vlan(instance, one)))
        except Exception as e:
            LOG.warning('Not removing the VLAN of port %(port)s from the '
                        'SEA: %(err)s', {'port': _port(one), 'err': e})
    if pairs:
        sea_vlan.release_all(adapter, host_net.host_uuid(adapter), pairs,
                             tries=tries)


def ensure_sea_vlan(adapter, instance, vif, host_uuid=None):
    """Make the SEA carry a pvm_sea port's VLAN: (vswitch, VLAN to use)."""
    vsw = _SeaDriver.vswitch(adapter, instance, vif, host_uuid=host_uuid)
    return vsw, sea_vlan.ensure(
        adapter, host_net.host_uuid(adapter, host_uuid), vsw,
        sea_vlan.port_vlan(instance, vif), _port(vif), instance.name)
