"""Disks mapped to the management partition appear as by-id links.

On NovaLink, a disk mapped to the NovaLink partition shows up there as
``/dev/disk/by-id/scsi-...<UDID>`` once its SCSI bus is rescanned (the
driver's snapshot reads it).  With the simulator's ``mgmt_disk_dir`` set
(``--mgmt-disk-dir``), every virtual disk, logical unit or file-backed
disk mapped to the management partition is a symbolic link
``<dir>/scsi-SAIX_VDASD_<UDID>`` to the file holding its contents; the
link goes when the mapping goes.  Off (None) by default.  Only links with
that prefix are touched; several hosts need a directory each.
"""
import os

from lxml import etree

from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import storage_scsi as scsi
from nova_powervm.simulator import xmlutil as xu

PREFIX = 'scsi-SAIX_VDASD_'
_KINDS = ('VirtualDisk', 'LogicalUnit')


def _wanted(sim):
    """{link name: content file} of the disks mapped to the mgmt partition."""
    mgmt = (sim.mgmt_uuid or '').lower()
    out = {}
    for vios in stg.vioses(sim):
        for m in xu.findall(vios.element, scsi.SCSI_PATH):
            client = scsi.client_of(sim, m)
            s = scsi._storage_el(m)
            if (client is None or client.uuid.lower() != mgmt or s is None or
                    etree.QName(s).localname not in _KINDS):
                continue
            udid = xu.text(s, 'UniqueDeviceID')
            size = stg._virtual_bytes(etree.QName(s).localname, s)
            if udid and size is not None:
                out[PREFIX + udid] = stg.whole_content_path(sim, udid, size)
    return out


def sync(sim):
    """Make the links in ``sim.mgmt_disk_dir`` match the mappings."""
    top = getattr(sim, 'mgmt_disk_dir', None)
    if not top:
        return
    wanted = _wanted(sim)
    os.makedirs(top, exist_ok=True)
    for name in os.listdir(top):
        path = os.path.join(top, name)
        if name.startswith(PREFIX) and (
                name not in wanted or not os.path.islink(path) or
                os.readlink(path) != wanted[name]):
            os.unlink(path)
    for name, target in wanted.items():
        path = os.path.join(top, name)
        if not os.path.lexists(path):
            os.symlink(target, path)


def clear(sim):
    """Remove every link (the simulator closes)."""
    top = getattr(sim, 'mgmt_disk_dir', None)
    if top and os.path.isdir(top):
        for name in os.listdir(top):
            if name.startswith(PREFIX):
                os.unlink(os.path.join(top, name))


@reg.on_update('VirtualIOServer')
def _after_update(sim, obj, old, ctx):
    # Registered after storage_scsi's hook (plugins load in name order):
    # the mappings are final here.
    sync(sim)


@reg.seeder
def _seeded(sim):
    sync(sim)
