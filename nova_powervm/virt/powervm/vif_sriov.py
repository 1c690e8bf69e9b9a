"""pvm_sriov VIFs: a vNIC backed by SR-IOV logical ports.

A Neutron port with ``vnic_type=direct`` bound as ``pvm_sriov`` becomes a
dedicated vNIC (``VirtualNICDedicated``) of the partition.  Its backing
devices are SR-IOV logical ports (VFs) on the host's physical ports whose
``Label`` is the port's physical network, each served by a VIOS; pypowervm
spreads them over adapters and VIOSes (``tasks.sriov.set_vnic_back_devs``).

- redundancy: binding profile ``vnic_required_vfs``, else ``[powervm]
  vnic_required_vfs`` (2);
- capacity per VF: binding profile ``capacity``, else ``[powervm]
  vnic_vf_capacity``, else the physical port's granularity;
- PVID: the port's VLAN (binding detail ``vlan``), else 0 (untagged).

Everything is checked against the host's SR-IOV adapters (one GET of the
managed system) before the vNIC is created; the vNIC is one PUT, and
deleting it frees its logical ports.
"""
from nova.network import model as network_model
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import sriov as pvm_sriov
from pypowervm import util as pvm_util
from pypowervm.wrappers import iocard
from pypowervm.wrappers import managed_system as pvm_ms

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

VIF_TYPE_PVM_SRIOV = 'pvm_sriov'

# pypowervm's refusals that mean "this host cannot serve a vNIC now".
_HOST_UNABLE = (pvm_exc.NoRunningSharedSriovAdapters,
                pvm_exc.NotEnoughActiveVioses,
                pvm_exc.SystemNotVNICCapable,
                pvm_exc.NoVNICCapableVIOSes,
                pvm_exc.VNICFailoverNotSupportedSys,
                pvm_exc.VNICFailoverNotSupportedVIOS)


class Settings(object):
    """What a pvm_sriov port asks for (validated)."""

    def __init__(self, physnet, redundancy, capacity, pvid):
        self.physnet = physnet
        self.redundancy = redundancy
        self.capacity = capacity
        self.pvid = pvid


def settings(instance, vif):
    """The port's :class:`Settings`; VifInvalid names what is wrong."""
    def bad(reason):
        return exc.VifInvalid(port=vif.get('id'), instance=instance.name,
                              reason=reason)

    profile = vif.get('profile') or {}
    details = vif.get('details') or {}
    meta = (vif.get('network') or {}).get('meta') or {}
    physnet = (meta.get('physical_network') or
               details.get(network_model.VIF_DETAILS_PHYSICAL_NETWORK))
    if not physnet:
        raise bad(_('a pvm_sriov port needs a physical network (it selects '
                    'the SR-IOV physical ports by label)'))
    raw = profile.get('vnic_required_vfs', CONF.powervm.vnic_required_vfs)
    try:
        redundancy = int(raw)
    except (TypeError, ValueError):
        redundancy = 0
    if redundancy < 1 or str(redundancy) != str(raw).strip():
        raise bad(_('vnic_required_vfs %s is not a positive integer') % raw)
    raw = profile.get('capacity', CONF.powervm.vnic_vf_capacity)
    capacity = None
    if raw is not None:
        try:
            capacity = float(raw)
        except (TypeError, ValueError):
            capacity = -1.0
        if not 0.0 < capacity <= 1.0:
            raise bad(_('SR-IOV capacity %s is not a fraction above 0.0 and '
                        'up to 1.0') % raw)
    raw = details.get(network_model.VIF_DETAILS_VLAN, meta.get('vlan'))
    pvid = 0
    if raw not in (None, ''):
        try:
            pvid = int(raw)
        except (TypeError, ValueError):
            pvid = -1
        if not 1 <= pvid <= 4094:
            raise bad(_('VLAN %s is not an integer from 1 to 4094') % raw)
    return Settings(physnet, redundancy, capacity, pvid)


def physical_ports(sys_w, physnet):
    """The physical ports labelled ``physnet`` on shared, running adapters."""
    return [port for adap in sys_w.asio_config.sriov_adapters
            if adap.mode == iocard.SRIOVAdapterMode.SRIOV and
            adap.state == iocard.SRIOVAdapterState.RUNNING
            for port in adap.phys_ports if port.label == physnet]


def _check_granularity(instance, vif, want, ports):
    """A capacity must be a multiple of every candidate port's granularity.

    Compared in hundredths of a percent, the unit PowerVM shows.
    """
    cap = round(want.capacity * 10000)
    for port in ports:
        gran = round((port.min_granularity or 0) * 10000)
        if gran and (cap < gran or cap % gran):
            raise exc.VifInvalid(
                port=vif.get('id'), instance=instance.name,
                reason=_('SR-IOV capacity %(cap)s is not a multiple of the '
                         'granularity %(gran)s of physical port %(loc)s') %
                {'cap': want.capacity, 'gran': port.min_granularity,
                 'loc': port.loc_code})


def build_vnic(adapter, instance, vif, want, sys_w=None):
    """A VNIC wrapper with its backing devices chosen (nothing created).

    :raises SriovNoPhysicalPort, SriovCapacityUnavailable, VifInvalid,
        VifPlugFailed: before any change.
    """
    if sys_w is None:
        sys_w = pvm_ms.System.get(adapter)[0]
    ports = physical_ports(sys_w, want.physnet)
    if not ports:
        raise exc.SriovNoPhysicalPort(port=vif.get('id'),
                                      instance=instance.name,
                                      physnet=want.physnet)
    if want.capacity is not None:
        _check_granularity(instance, vif, want, ports)
    vnic = iocard.VNIC.bld(adapter, pvid=want.pvid, mac_addr=vif['address'])
    try:
        pvm_sriov.set_vnic_back_devs(
            vnic, [p.loc_code for p in ports], sys_w=sys_w,
            redundancy=want.redundancy, capacity=want.capacity,
            check_port_status=True)
    except pvm_exc.InsufficientSRIOVCapacity as e:
        raise exc.SriovCapacityUnavailable(
            port=vif.get('id'), instance=instance.name,
            physnet=want.physnet, reason=str(e))
    except _HOST_UNABLE as e:
        raise exc.VifPlugFailed(port=vif.get('id'),
                                vif_type=VIF_TYPE_PVM_SRIOV,
                                instance=instance.name, reason=str(e))
    return vnic


def get_vnics(adapter, instance):
    """The partition's vNICs ([] if the partition is gone)."""
    return ids.partition_children(iocard.VNIC, adapter, instance)


def find_vnic(adapter, instance, vif):
    """The partition's vNIC with the port's MAC, or None (one GET)."""
    mac = pvm_util.sanitize_mac_for_api(vif['address'])
    for vnic in get_vnics(adapter, instance):
        if vnic.mac and vnic.mac.upper() == mac:
            return vnic
    return None


class PluggedVnic(object):
    """What one plug made: vif.py's Plugged with the vNIC (no CNA)."""

    def __init__(self, vif, vnic, created):
        self.vif = vif
        self.cna = None
        self.trunks = []
        self.vnic = vnic
        self.created = created


class SriovDriver(object):
    """The pvm_sriov driver of vif.py's interface."""

    @staticmethod
    def validate(instance, vif):
        settings(instance, vif)

    @staticmethod
    def plug(adapter, instance, vif, host_uuid=None, lpar_wrap=None):
        """Create the vNIC (unless the partition has one with the MAC).

        :return: a :class:`PluggedVnic`.
        """
        want = settings(instance, vif)
        found = find_vnic(adapter, instance, vif)
        if found is not None:
            LOG.debug('Port %s already has a vNIC.', vif.get('id'))
            return PluggedVnic(vif, found, False)
        vnic = build_vnic(adapter, instance, vif, want)
        LOG.info('Plugging SR-IOV port %(port)s (physical network %(net)s, '
                 '%(n)d backing device(s)) into instance %(inst)s.',
                 {'port': vif.get('id'), 'net': want.physnet,
                  'n': len(vnic.back_devs), 'inst': instance.name})
        return PluggedVnic(vif, ids.create_on_partition(vnic, instance,
                                                        lpar_wrap), True)

    @classmethod
    def unplug_plugged(cls, adapter, instance, plugged):
        """Delete the vNIC of a plug that created it (not one found)."""
        if plugged.created:
            cls.unplug(adapter, instance, plugged.vif, plugged.vnic)

    @staticmethod
    def unplug(adapter, instance, vif, vnic=None):
        """Delete the port's vNIC (looked up by MAC if not given)."""
        if vnic is None:
            vnic = find_vnic(adapter, instance, vif)
        if vnic is None:
            LOG.info('Port %(port)s has no vNIC on instance %(inst)s; '
                     'nothing to unplug.',
                     {'port': vif.get('id'), 'inst': instance.name})
            return
        try:
            vnic.delete()
        except pvm_exc.HttpNotFound:
            pass
        except pvm_exc.Error:
            # The answer may have been lost after the delete was made.
            if find_vnic(adapter, instance, vif) is not None:
                raise
            LOG.info('The vNIC of port %s is gone after all.', vif.get('id'))
