"""Seed a host with N client partitions (``--partitions N``).

Each seeded partition looks like one the driver spawned: an AIX/Linux
partition (the recorded partition's full width, 512 MB, 0.1 processing
units; four in five running, the others off), one client network adapter
(slot 3, on ``ETHERNET0``) and a 1 GB logical volume in vios1's ``datavg``
mapped to it over virtual SCSI (client slot 4, ``vhostN``/``vtscsiN``).
Names are ``scale%04d``; UUIDs are deterministic (:func:`partition_uuid`),
so a benchmark can build the nova instances that own them
(``ids.instance_uuid_candidates``).

The elements are built once per N and cached serialized (as the default
host is), so ``reset()`` of a seeded simulator stays cheap.
"""
from lxml import etree

from nova_powervm.simulator import seed
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import storage_scsi as scsi
from nova_powervm.simulator import xmlutil as xu

NAME = 'scale%04d'
DISK = 'scale_d%04d'
MEMORY_MB = 512
PROC_UNITS = '0.1'
DISK_GB = 1
CNA_SLOT = 3
SCSI_SLOT = 4
FIRST_SERVER_SLOT = 11
_TEMPLATES = {}
_BUILT = {}
_CNA_DROP = ('TrunkPriority', 'OvsBridge', 'OvsPortExternalIds',
             'IPAddress', 'SubnetMask', 'Gateway', 'VirtualNetworks',
             'TaggedVLANIDs', 'VirtualStationInterfaceTypeID',
             'VirtualStationInterfaceTypeVersion',
             'VirtualStationInterfaceManagerID')
_PPC = 'PartitionProcessorConfiguration/'


def partition_uuid(index):
    """UUID of seeded partition ``index`` (1-based; upper case, < 8...)."""
    return '5CA1E%03X-0000-4000-8000-%012X' % (index >> 12, index)


def running(index):
    """Whether seeded partition ``index`` is running (four in five)."""
    return index % 5 != 0


def _template(kind):
    """A fresh copy of the recorded partition or network adapter."""
    if not _TEMPLATES:
        lpar = seed.recorded('lpar.txt')[seed.MGMT_UUID]
        _TEMPLATES['lpar'] = etree.tostring(
            seed._partition(lpar, 'x', 0, False))
        cna = seed.recorded('fake_cna.txt').popitem()[1]
        for name in _CNA_DROP:
            stg.remove_child(cna, name)
        _TEMPLATES['cna'] = etree.tostring(cna)
    return etree.fromstring(_TEMPLATES[kind], xu.parser())


def _lpar(index, pid, host_href):
    el = _template('lpar')
    uid = partition_uuid(index)
    xu.set_text(el, 'Metadata/Atom/AtomID', uid)
    for path, val in (
            ('PartitionName', NAME % index), ('PartitionID', pid),
            ('PartitionUUID', uid),
            ('PartitionState', 'running' if running(index) else
             'not activated'),
            ('ResourceMonitoringControlState', 'active' if running(index)
             else 'inactive'),
            ('ReferenceCode', '' if running(index) else '00000000'),
            ('PartitionMemoryConfiguration/DesiredMemory', MEMORY_MB),
            ('PartitionMemoryConfiguration/CurrentMemory', MEMORY_MB),
            (_PPC + 'SharedProcessorConfiguration/DesiredProcessingUnits',
             PROC_UNITS),
            (_PPC + 'CurrentSharedProcessorConfiguration/'
             'CurrentProcessingUnits', PROC_UNITS)):
        xu.set_text(el, path, val)
    link = xu.find(el, 'AssociatedManagedSystem')
    if link is not None:
        link.set('href', host_href)
    return el


def _cna(sim, index, pid, vswitch):
    el = _template('cna')
    loc = scsi.LOC % (pid, CNA_SLOT)
    for path, val in (
            ('DynamicReconfigurationConnectorName', loc),
            ('LocationCode', loc), ('LocalPartitionID', pid),
            ('VirtualSlotNumber', CNA_SLOT),
            ('MACAddress', 'FA5CA1E%05X' % index),
            ('PortVLANID', 1000 + index % 3000), ('VirtualSwitchID', '0')):
        xu.set_text(el, path, val)
    xu.set_text(el, 'AdapterType', 'Client')
    xu.set_text(el, 'VirtualSwitchName', vswitch.text('SwitchName'))
    xu.find(el, 'AssociatedVirtualSwitch/link').set(
        'href', sim.store.href(vswitch))
    uid = stg.seed_uuid(partition_uuid(index), 'cna')
    xu.set_text(el, 'Metadata/Atom/AtomID', uid)
    return uid, el


def _vdisk(vg, index):
    vd = stg.new_el('VirtualDisk')
    for key, val in (('DiskCapacity', stg.fmt(DISK_GB)),
                     ('DiskLabel', 'None'), ('DiskName', DISK % index),
                     ('UniqueDeviceID', '0300%s.s%d' % (
                         vg.text('GroupSerialID'), index)),
                     ('VirtualDiskType', 'LogicalVolume')):
        stg.ordered_set(vd, key, val, stg.VDISK_ORDER)
    return vd


def _mapping(sim, vios, lpar_uid, pid, n, vdisk):
    """A VirtualSCSIMapping as the VIOS update hook fills a new one."""
    vid = vios.text('PartitionID')
    sslot, cslot = FIRST_SERVER_SLOT + n, SCSI_SLOT
    sloc, cloc = scsi.LOC % (vid, sslot), scsi.LOC % (pid, cslot)
    m = stg.new_el('VirtualSCSIMapping')
    xu.link(m, 'AssociatedLogicalPartition', '%s/rest/api/uom/'
            'LogicalPartition/%s' % (sim.base_url, lpar_uid))
    scsi.build_adapter(m, 'ClientAdapter', (
        ('AdapterType', 'Client'),
        ('DynamicReconfigurationConnectorName', cloc),
        ('LocationCode', cloc), ('LocalPartitionID', pid),
        ('RequiredAdapter', 'false'), ('VariedOn', 'true'),
        ('VirtualSlotNumber', cslot), ('RemoteLogicalPartitionID', vid),
        ('RemoteSlotNumber', sslot), ('ServerLocationCode', sloc)))
    scsi.build_adapter(m, 'ServerAdapter', (
        ('AdapterType', 'Server'),
        ('DynamicReconfigurationConnectorName', sloc),
        ('LocationCode', sloc), ('LocalPartitionID', vid),
        ('RequiredAdapter', 'false'), ('VariedOn', 'true'),
        ('VirtualSlotNumber', sslot), ('AdapterName', 'vhost%d' % n),
        ('BackingDeviceName', xu.text(vdisk, 'DiskName')),
        ('RemoteLogicalPartitionID', pid), ('RemoteSlotNumber', cslot),
        ('ServerLocationCode', cloc), ('UniqueDeviceID', '1e' + sloc)))
    storage = stg.sub(m, 'Storage', meta=False)
    storage.append(stg.copy_el(vdisk))
    td = stg.sub(m, 'TargetDevice', meta=False)
    dev = stg.sub(td, 'LogicalVolumeVirtualTargetDevice')
    xu.make(dev, 'LogicalUnitAddress', '0x8100000000000000')
    xu.make(dev, 'TargetName', 'vtscsi%d' % n)
    xu.make(dev, 'UniqueDeviceID', '09%016x' % (0x5ca1e0000 + n))
    return m


def _build(sim, count, host, vios, vg, vswitch):
    """[(lpar, cna uuid, cna, vdisk, mapping)] serialized, cached.

    The elements depend only on the default seed (IDs, serials), which is
    the same in every simulator: built once per process and count.
    """
    used_ids = {int(o.text('PartitionID', '0')) for t in
                ('LogicalPartition', 'VirtualIOServer')
                for o in sim.store.of_type(t)}
    key = (count, tuple(sorted(used_ids)), vios.text('PartitionID'),
           vg.text('GroupSerialID'))
    cached = _BUILT.get(key)
    if cached is not None:
        return cached
    out = []
    pid = 0
    host_href = sim.store.root_href(host)
    for index in range(1, count + 1):
        pid += 1
        while pid in used_ids:
            pid += 1
        uid, cna = _cna(sim, index, pid, vswitch)
        vd = _vdisk(vg, index)
        out.append(tuple([etree.tostring(_lpar(index, pid, host_href)), uid,
                          etree.tostring(cna), etree.tostring(vd),
                          etree.tostring(_mapping(
                              sim, vios, partition_uuid(index), pid,
                              index - 1, vd))]))
    _BUILT.clear()
    _BUILT[key] = out
    return out


def seed_partitions(sim, count):
    """Add ``count`` client partitions with adapters, disks and mappings.

    Runs under sim.lock after the default seed (no events).
    """
    if count <= 0:
        return
    store = sim.store
    host = store.of_type('ManagedSystem')[0]
    vios = sorted(store.of_type('VirtualIOServer'),
                  key=lambda o: o.text('PartitionName'))[0]
    vg = [v for v in stg.vgs_of(sim, vios.key)
          if v.text('GroupName') == stg.DATAVG][0]
    vswitch = [s for s in store.of_type('VirtualSwitch')
               if s.text('SwitchName') == 'ETHERNET0'][0]
    maps = xu.find(vios.element, 'VirtualSCSIMappings')
    vdisks = xu.child(vg.element, 'VirtualDisks')
    parser = xu.parser()
    for index, (lpar_b, cna_uid, cna_b, vd_b, map_b) in enumerate(
            _build(sim, count, host, vios, vg, vswitch), 1):
        lpar = store.add('LogicalPartition', partition_uuid(index),
                         etree.fromstring(lpar_b, parser), parent=host.key,
                         emit=False)
        store.add('ClientNetworkAdapter', cna_uid,
                  etree.fromstring(cna_b, parser), parent=lpar.key,
                  emit=False)
        vdisks.append(etree.fromstring(vd_b, parser))
        maps.append(etree.fromstring(map_b, parser))
        sim.extra[('slots', lpar.key)] = {SCSI_SLOT}
    xu.normalize_hrefs(vios.element, sim.base_url)
    stg.recompute(vg.element)
    store.touch(vg, emit=False)
    store.touch(vios, emit=False)
