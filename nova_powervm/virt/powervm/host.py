"""Host resources of the managed system, for nova's resource tracker."""
import math

from nova import exception as nova_exc
from nova.objects import fields
import os_traits
from oslo_concurrency import processutils
from oslo_serialization import jsonutils
from pypowervm.wrappers import base_partition as pvm_bp
from pypowervm.wrappers import iocard

from nova_powervm.i18n import _

# nova wants an integer hypervisor version.
HYPERVISOR_VERSION = 7

SUPPORTED_INSTANCES = [
    (fields.Architecture.PPC64, fields.HVType.PHYP, fields.VMMode.HVM),
    (fields.Architecture.PPC64LE, fields.HVType.PHYP, fields.VMMode.HVM),
]


def build_host_resource(host_w, nodename, disk_dvr=None):
    """Resource dict of ``get_available_resource`` from a System wrapper.

    vCPUs are the configurable physical processor units (rounded up), as a
    partition consumes processor units per virtual processor; disk comes
    from the disk driver (GB).
    """
    proc_units = float(host_w.proc_units_configurable)
    pu_used = proc_units - float(host_w.proc_units_avail)
    mem = int(host_w.memory_configurable)
    mem_used = mem - int(host_w.memory_free)
    disk = disk_used = 0
    if disk_dvr is not None:
        disk = int(disk_dvr.capacity)
        disk_used = int(math.ceil(disk_dvr.capacity_used))
    return {
        'vcpus': int(math.ceil(proc_units)),
        'vcpus_used': int(math.ceil(pu_used)),
        'memory_mb': mem,
        'memory_mb_used': mem_used,
        'local_gb': disk,
        'local_gb_used': disk_used,
        'disk_available_least': max(disk - disk_used, 0),
        'hypervisor_type': fields.HVType.PHYP,
        'hypervisor_version': HYPERVISOR_VERSION,
        'hypervisor_hostname': nodename,
        'cpu_info': jsonutils.dumps({'vendor': 'ibm', 'arch': 'ppc64'}),
        'numa_topology': None,
        'supported_instances': SUPPORTED_INSTANCES,
        'stats': {'proc_units': '%.2f' % proc_units,
                  'proc_units_used': '%.2f' % pu_used,
                  'memory_region_size': host_w.memory_region_size},
    }


def inventory(resources, ratios, reserved):
    """Placement inventory (VCPU, MEMORY_MB, DISK_GB) from resources.

    :param ratios: {resource class: allocation ratio}
    :param reserved: {resource class: reserved amount}
    """
    totals = {'VCPU': resources['vcpus'],
              'MEMORY_MB': resources['memory_mb'],
              'DISK_GB': resources['local_gb']}
    inv = {}
    for rc, total in totals.items():
        if total <= 0:
            # Placement refuses an inventory with total 0.
            continue
        inv[rc] = {'total': total, 'min_unit': 1, 'max_unit': total,
                   'step_size': 1, 'allocation_ratio': ratios[rc],
                   'reserved': reserved[rc]}
    return inv


# SR-IOV logical ports (VFs) of one physical network, on a child provider.
SRIOV_VF = 'CUSTOM_PVM_SRIOV_VF'
VNIC_TYPE_DIRECT_TRAIT = 'CUSTOM_VNIC_TYPE_DIRECT'


def sriov_vfs(host_w):
    """{physical network: VFs its ports can hold} from a System wrapper.

    A physical port serves the physical network named by its ``Label``;
    unlabelled ports and adapters not running in shared (Sriov) mode serve
    none.  VFs are the ports' configured maximum logical ports.
    """
    vfs = {}
    for adap in host_w.asio_config.sriov_adapters:
        if (adap.mode != iocard.SRIOVAdapterMode.SRIOV or
                adap.state != iocard.SRIOVAdapterState.RUNNING):
            continue
        for port in adap.phys_ports:
            if port.label and port.cfg_max_lps:
                vfs[port.label] = vfs.get(port.label, 0) + port.cfg_max_lps
    return vfs


def sriov_provider_name(nodename, physnet):
    return '%s_SRIOV_%s' % (nodename, physnet)


def update_sriov_providers(provider_tree, nodename, host_w):
    """One child provider per SR-IOV physical network, with its VFs.

    Inventory ``CUSTOM_PVM_SRIOV_VF`` (reserved 0), traits
    ``CUSTOM_PHYSNET_<NAME>`` and ``CUSTOM_VNIC_TYPE_DIRECT``, so a flavor
    asking e.g. ``resources1:CUSTOM_PVM_SRIOV_VF=2`` with
    ``trait1:CUSTOM_PHYSNET_<NAME>=required`` is not placed beyond the
    VFs.  Providers of networks that are gone are removed.
    """
    vfs = sriov_vfs(host_w)
    wanted = {sriov_provider_name(nodename, net): net for net in vfs}
    prefix = sriov_provider_name(nodename, '')
    for uuid in provider_tree.get_provider_uuids(nodename)[1:]:
        name = provider_tree.data(uuid).name
        if name.startswith(prefix) and name not in wanted:
            provider_tree.remove(uuid)
    for name, net in sorted(wanted.items()):
        if not provider_tree.exists(name):
            provider_tree.new_child(name, nodename)
        total = vfs[net]
        provider_tree.update_inventory(name, {SRIOV_VF: {
            'total': total, 'reserved': 0, 'min_unit': 1,
            'max_unit': total, 'step_size': 1, 'allocation_ratio': 1.0}})
        provider_tree.update_traits(name, [
            os_traits.normalize_name('PHYSNET_' + net),
            VNIC_TYPE_DIRECT_TRAIT])


def uptime():
    """``uptime`` output of the host nova-compute runs on (NovaLink)."""
    out, _err = processutils.execute('env', 'LANG=C', 'uptime')
    return out


def check_fits(host_w, lpar_w, instance):
    """Refuse a partition larger than the managed system can ever give.

    Compared with the system's totals (configurable memory and processor
    units, virtual processors per partition), not with what is free now:
    the scheduler tracks that, and ``host_w`` may be minutes old.  No REST
    request.

    :param lpar_w: the partition wrapper built for ``instance``.
    :raises ComputeResourcesUnavailable: naming the flavor's figure and the
        system's limit.
    """
    flavor = instance.flavor
    problems = []
    mem = int(lpar_w.mem_config.desired)
    if mem > int(host_w.memory_configurable):
        problems.append(_('memory_mb %(mem)d is more than the %(max)d MB the '
                          'managed system can give a partition') %
                        {'mem': mem, 'max': host_w.memory_configurable})
    procs = lpar_w.proc_config
    if procs.has_dedicated:
        units = vprocs = procs.dedicated_proc_cfg.desired
        limit = host_w.max_procs_per_aix_linux_lpar
    else:
        units = procs.shared_proc_cfg.desired_units
        vprocs = procs.shared_proc_cfg.desired_virtual
        limit = host_w.max_vcpus_per_aix_linux_lpar
    if float(units) > float(host_w.proc_units_configurable):
        problems.append(_('vcpus %(vcpus)d need %(units)s processor units; '
                          'the managed system has %(max)s') %
                        {'vcpus': flavor.vcpus, 'units': units,
                         'max': host_w.proc_units_configurable})
    elif limit and lpar_w.env == pvm_bp.LPARType.AIXLINUX and vprocs > limit:
        problems.append(_('vcpus %(vcpus)d is more than the %(max)d '
                          'processors the managed system allows a '
                          'partition') % {'vcpus': vprocs, 'max': limit})
    if problems:
        raise nova_exc.ComputeResourcesUnavailable(reason=_(
            'flavor %(flavor)s does not fit managed system %(host)s: '
            '%(why)s.') % {'flavor': flavor.name, 'host': host_w.system_name,
                           'why': '; '.join(problems)})
