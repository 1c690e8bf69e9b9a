"""Host resources of the managed system, for nova's resource tracker."""
import math

from nova import exception as nova_exc
from nova.objects import fields
from oslo_concurrency import processutils
from oslo_serialization import jsonutils
from pypowervm.wrappers import base_partition as pvm_bp
from pypowervm.wrappers import iocard

from nova_powervm import conf as cfg
from nova_powervm.i18n import _

CONF = cfg.CONF

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
        'pci_passthrough_devices': jsonutils.dumps(sriov_pci_devices(
            host_w, CONF.powervm.vnic_required_vfs)),
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


# Vendor (IBM) and product of the VF devices reported to nova's PCI tracker.
SRIOV_VENDOR_ID = '1014'
SRIOV_PRODUCT_ID = '0001'


def sriov_pci_devices(host_w, vfs_per_vnic):
    """VF "PCI devices" for nova's PCI tracker (``pci_passthrough_devices``).

    nova claims one PCI device (tagged with the port's physical network by
    ``[pci] device_spec``) for every ``vnic_type=direct`` port, so each
    labelled physical port of a running shared-mode adapter
    reports as many devices as vNICs it can back (its logical ports divided
    by ``vfs_per_vnic``).  Address: domain = SR-IOV adapter ID, bus =
    physical port ID, slot/function = device index.
    """
    devs = []
    for adap in host_w.asio_config.sriov_adapters:
        if (adap.mode != iocard.SRIOVAdapterMode.SRIOV or
                adap.state != iocard.SRIOVAdapterState.RUNNING):
            continue
        for port in adap.phys_ports:
            if not port.label:
                continue
            for idx in range((port.cfg_max_lps or 0) // vfs_per_vnic):
                addr = '%04x:%02x:%02x.%d' % (adap.sriov_adap_id,
                                              port.port_id, idx // 8, idx % 8)
                devs.append({
                    'address': addr, 'dev_id': 'pvm_vf_' + addr,
                    'dev_type': 'type-VF', 'vendor_id': SRIOV_VENDOR_ID,
                    'product_id': SRIOV_PRODUCT_ID, 'numa_node': None,
                    'label': 'label_%s_%s' % (SRIOV_VENDOR_ID,
                                              SRIOV_PRODUCT_ID),
                    'parent_addr': '%04x:%02x:00.0' % (adap.sriov_adap_id,
                                                       port.port_id + 0x80),
                    'physical_port': port.loc_code})
    return devs


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
