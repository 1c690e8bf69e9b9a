"""LogicalPartition / VirtualIOServer behaviour: create, power, capacity."""
from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import xmlutil as xu

PARTITION_TYPES = ('LogicalPartition', 'VirtualIOServer')
ACTIVE = frozenset(('running', 'starting', 'open firmware', 'shutting down',
                    'migrating running', 'suspending', 'resuming'))
# Every PartitionState the REST API reports (pypowervm's LPARState).
STATES = ACTIVE | frozenset(('not activated', 'not available', 'error',
                             'hardware discovery', 'migrating not active',
                             'suspended', 'Unknown'))
# A PowerOff job can stop these; in the others there is nothing the job
# may stop (held by a migration, suspended, unreachable, ...).  'error'
# means running but needing attention: it can be stopped, not deleted.
STOPPABLE = frozenset(('running', 'starting', 'open firmware',
                       'shutting down', 'error', 'suspending', 'resuming'))
# Only a partition that is off can be deleted.
DELETABLE = frozenset(('not activated',))
# Partitions with an open virtual terminal session (sim.extra key).
VTERMS = 'open_vterms'
_SERVER_OWNED = ('PartitionState', 'PartitionID', 'PartitionUUID',
                 'ResourceMonitoringControlState', 'IsManagementPartition',
                 'ReferenceCode')
_MAX_NAME = 47
# fn(sim, obj) run when a power job has moved a partition to its final
# state (partition_nvram: the firmware rewrites the NVRAM then).
POWER_HOOKS = []


def _host_key(sim):
    return ('ManagedSystem', sim.store.of_type('ManagedSystem')[0].uuid)


for _t in PARTITION_TYPES:
    reg.register_type(_t, parents=('ManagedSystem',),
                      default_parent=_host_key, uuid_upper=True)
reg.register_type('ManagedSystem')


def partitions(sim):
    return [o for t in PARTITION_TYPES for o in sim.store.of_type(t)]


def _num(value, default=0.0):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def allocation(obj):
    """(processing units, memory MB) a partition holds when active."""
    el = obj.element
    mem = _num(xu.text(el, 'PartitionMemoryConfiguration/CurrentMemory') or
               xu.text(el, 'PartitionMemoryConfiguration/DesiredMemory'))
    if xu.text(el, 'PartitionProcessorConfiguration/'
                   'HasDedicatedProcessors') == 'true':
        procs = _num(xu.text(
            el, 'PartitionProcessorConfiguration/'
                'DedicatedProcessorConfiguration/DesiredProcessors'))
    else:
        procs = _num(xu.text(
            el, 'PartitionProcessorConfiguration/CurrentSharedProcessor'
                'Configuration/CurrentProcessingUnits') or xu.text(
            el, 'PartitionProcessorConfiguration/SharedProcessorConfiguration'
                '/DesiredProcessingUnits'))
    return procs, mem


def _held(obj):
    """(processing units, memory MB) obj holds now (0s when inactive)."""
    if obj.text('PartitionState') not in ACTIVE:
        return 0.0, 0.0
    return allocation(obj)


def _used(sim, exclude=None):
    procs = mem = 0.0
    for o in partitions(sim):
        if o is not exclude:
            p, m = o.memo('held', _held)
            procs += p
            mem += m
    return procs, mem


_PROC = 'AssociatedSystemProcessorConfiguration/'
_MEM = 'AssociatedSystemMemoryConfiguration/'


def init_capacity(sim):
    """Size the host so the free capacity matches the seed's target."""
    ms = sim.store.of_type('ManagedSystem')[0]
    target = sim.extra.get('capacity_target')
    if target is not None:
        procs, mem = _used(sim)
        hv = _num(ms.text(_MEM + 'MemoryUsedByHypervisor'))
        total_p = target[0] + procs
        total_m = int(target[1] + mem + hv)
        for path in ('ConfigurableSystemProcessorUnits',
                     'InstalledSystemProcessorUnits'):
            ms.set(_PROC + path, _fmt(total_p))
        for path in ('ConfigurableSystemMemory', 'InstalledSystemMemory'):
            ms.set(_MEM + path, total_m)
    update_capacity(sim, emit=False)


def _fmt(value):
    return ('%.2f' % value).rstrip('0').rstrip('.')


def update_capacity(sim, emit=True):
    ms = sim.store.of_type('ManagedSystem')[0]
    procs, mem = _used(sim)
    hv = _num(ms.text(_MEM + 'MemoryUsedByHypervisor'))
    free_p = _num(ms.text(_PROC + 'ConfigurableSystemProcessorUnits')) - \
        procs
    free_m = _num(ms.text(_MEM + 'ConfigurableSystemMemory')) - mem - hv
    for path in ('CurrentAvailableSystemProcessorUnits',
                 'PendingAvailableSystemProcessorUnits'):
        ms.set(_PROC + path, _fmt(max(free_p, 0)))
    for path in ('CurrentAvailableSystemMemory',
                 'PendingAvailableSystemMemory'):
        ms.set(_MEM + path, int(max(free_m, 0)))
    sim.store.touch(ms, emit=emit)


# What a guest OS reports over an active RMC connection (DLPAR).
DLPAR_CAPS = ('DynamicLogicalPartitionIOCapable',
              'DynamicLogicalPartitionMemoryCapable',
              'DynamicLogicalPartitionProcessorCapable')


def set_rmc_state(obj, active):
    """A partition's RMC connection and the DLPAR capabilities it brings."""
    obj.set('ResourceMonitoringControlState',
            'active' if active else 'inactive')
    for cap in DLPAR_CAPS:
        obj.set('PartitionCapabilities/' + cap, 'true' if active else 'false')


def set_state(sim, obj, state, emit=True):
    """Change PartitionState (event detail PartitionState), fix capacity."""
    was_active = obj.text('PartitionState') in ACTIVE
    obj.set('PartitionState', state)
    # guest_rmc: client partitions' guests run RSCT (RMC up when running).
    guest_rmc = (obj.type == 'LogicalPartition' and
                 getattr(sim, 'guest_rmc', False))
    if state == 'not activated':
        obj.set('ResourceMonitoringControlState', 'inactive')
        obj.set('ReferenceCode', '00000000')
        if guest_rmc:
            set_rmc_state(obj, False)
    elif state == 'running':
        obj.set('ReferenceCode', '')
        if guest_rmc:
            set_rmc_state(obj, True)
        elif obj.type == 'VirtualIOServer' or sim.extra.get('rmc_on_boot'):
            obj.set('ResourceMonitoringControlState', 'active')
    sim.store.touch(obj, detail='PartitionState', emit=emit)
    if was_active != (state in ACTIVE):
        update_capacity(sim, emit=emit)


def _partition_id(obj):
    return int(obj.text('PartitionID', '0'))


def _partition_name(obj):
    return obj.text('PartitionName')


def _next_id(sim):
    used = {o.memo('id', _partition_id) for o in partitions(sim)}
    pid = 1
    while pid in used:
        pid += 1
    return pid


def _fill_mem_proc(el):
    desired = xu.text(el, 'PartitionMemoryConfiguration/DesiredMemory')
    if desired is not None:
        xu.set_text(el, 'PartitionMemoryConfiguration/CurrentMemory', desired)
    ppc = 'PartitionProcessorConfiguration/'
    if xu.text(el, ppc + 'HasDedicatedProcessors') == 'true':
        d = xu.text(el, ppc + 'DedicatedProcessorConfiguration/'
                    'DesiredProcessors')
        if d is not None:
            xu.set_text(el, ppc + 'CurrentDedicatedProcessorConfiguration/'
                        'CurrentProcessors', d)
    else:
        spc = ppc + 'SharedProcessorConfiguration/'
        cur = ppc + 'CurrentSharedProcessorConfiguration/'
        for src, dst in (('DesiredProcessingUnits', 'CurrentProcessingUnits'),
                         ('DesiredVirtualProcessors',
                          'AllocatedVirtualProcessors')):
            v = xu.text(el, spc + src)
            if v is not None:
                xu.set_text(el, cur + dst, v)


def _check_name(sim, obj):
    name = obj.text('PartitionName')
    if not name or len(name) > _MAX_NAME:
        raise errors.BadRequest('HSCL1501 Partition name %r is empty or '
                                'longer than %d characters' % (name,
                                                               _MAX_NAME))
    for o in partitions(sim):
        if o is not obj and o.memo('name', _partition_name) == name:
            raise errors.SimError(
                409, 'HSCL1502 A partition named %s already exists' % name)


def _on_create(sim, obj, ctx):
    _check_name(sim, obj)
    el = obj.element
    host = sim.store.get(*obj.parent) if obj.parent else None
    xu.set_text(el, 'PartitionID', _next_id(sim))
    xu.set_text(el, 'PartitionUUID', obj.uuid)
    xu.set_text(el, 'PartitionState', 'not activated')
    xu.set_text(el, 'ResourceMonitoringControlState', 'inactive')
    xu.set_text(el, 'ReferenceCode', '00000000')
    xu.set_text(el, 'IsManagementPartition', 'false')
    xu.set_text(el, 'IsOperationInProgress', 'false')
    if xu.text(el, 'PartitionType') is None:
        xu.set_text(el, 'PartitionType', 'AIX/Linux' if obj.type ==
                    'LogicalPartition' else 'Virtual IO Server')
    if xu.text(el, 'OperatingSystemVersion') is None:
        xu.set_text(el, 'OperatingSystemVersion', 'Unknown')
    if host is not None and xu.child(el, 'AssociatedManagedSystem') is None:
        xu.link(el, 'AssociatedManagedSystem', sim.store.root_href(host))
    _fill_mem_proc(el)


def _on_update(sim, obj, old, ctx):
    # State, IDs and RMC are the server's; an update cannot change them.
    for path in _SERVER_OWNED:
        val = xu.text(old, path)
        if val is not None:
            xu.set_text(obj.element, path, val)
    if obj.text('PartitionName') != xu.text(old, 'PartitionName'):
        _check_name(sim, obj)
    if _desired(obj.element) != _desired(old):
        # A resize: current values follow the new desired ones.
        _fill_mem_proc(obj.element)
        if obj.text('PartitionState') in ACTIVE:
            update_capacity(sim)


def _desired(el):
    ppc = 'PartitionProcessorConfiguration/'
    return tuple(xu.text(el, p) for p in (
        'PartitionMemoryConfiguration/DesiredMemory',
        ppc + 'HasDedicatedProcessors',
        ppc + 'SharedProcessorConfiguration/DesiredProcessingUnits',
        ppc + 'SharedProcessorConfiguration/DesiredVirtualProcessors',
        ppc + 'DedicatedProcessorConfiguration/DesiredProcessors'))


def _on_delete(sim, obj, ctx):
    if obj.text('IsManagementPartition') == 'true':
        raise errors.SimError(409, 'HSCL1A01 The management partition '
                              'cannot be deleted')
    state = obj.text('PartitionState')
    if state in ACTIVE or state == 'error':
        raise errors.SimError(
            409, 'HSCL1A02 Partition %s is %s; power it off before deleting'
            % (obj.text('PartitionName'), state))
    if state not in DELETABLE:
        raise errors.SimError(
            409, 'HSCL1A03 Partition %s cannot be deleted while it is %s'
            % (obj.text('PartitionName'), state))
    if obj.uuid in sim.extra.get(VTERMS, ()):
        # The code the real API answers (upstream drivers look for it).
        raise errors.SimError(
            409, 'HSCL151B Partition %s has an open virtual terminal '
            'session; close it before deleting the partition'
            % obj.text('PartitionName'))
    sim.extra.get(VTERMS, set()).discard(obj.uuid)


for _t in PARTITION_TYPES:
    reg.on_create(_t)(_on_create)
    reg.on_update(_t)(_on_update)
    reg.on_delete(_t)(_on_delete)


# PowerOn job's bootmode values; sms / of stop in firmware ("open
# firmware" state) until someone boots from the console.
_BOOT_MODES = ('norm', 'sms', 'dd', 'ds', 'of', 'pbl')
_FIRMWARE_BOOT_MODES = ('sms', 'of')


def _power_done(sim, obj):
    for hook in POWER_HOOKS:
        hook(sim, obj)


def _power_on(sim, obj, params, ctx):
    if obj is None:
        raise errors.JobFailure('PowerOn needs a partition')
    bootmode = params.get('bootmode', 'norm')
    if bootmode not in _BOOT_MODES:
        raise errors.JobFailure('HSCL1521 Invalid boot mode %s; valid: %s'
                                % (bootmode, ', '.join(_BOOT_MODES)))
    state = obj.text('PartitionState')
    if state in ACTIVE:
        raise errors.JobFailure('HSCL3681 The partition %s is already '
                                'powered on (%s)'
                                % (obj.text('PartitionName'), state))
    if state != 'not activated':
        raise errors.JobFailure('HSCL1A04 The partition %s cannot be '
                                'activated while it is %s'
                                % (obj.text('PartitionName'), state))
    procs, mem = allocation(obj)
    used_p, used_m = _used(sim)
    ms = sim.store.of_type('ManagedSystem')[0]
    if procs > _num(ms.text(_PROC + 'CurrentAvailableSystemProcessorUnits')) \
            + 1e-9 or mem > _num(ms.text(_MEM +
                                         'CurrentAvailableSystemMemory')):
        raise errors.JobFailure(
            'HSCL12B5 Not enough resources on the managed system to '
            'activate %s (%.2f units, %d MB requested)'
            % (obj.text('PartitionName'), procs, mem))
    set_state(sim, obj, 'starting')
    final = ('open firmware' if bootmode in _FIRMWARE_BOOT_MODES
             else 'running')

    def finish():
        if obj.key in sim.store.objs:
            set_state(sim, obj, final)
            _power_done(sim, obj)
        return {}
    return errors.JobDelay(sim.power_delay_s, finish)


def _power_off(sim, obj, params, ctx):
    if obj is None:
        raise errors.JobFailure('PowerOff needs a partition')
    state = obj.text('PartitionState')
    restart = params.get('restart') == 'true'
    if state == 'not activated':
        raise errors.JobFailure('HSCL1558 The partition %s is already '
                                'powered off' % obj.text('PartitionName'))
    if state not in STOPPABLE:
        raise errors.JobFailure('HSCL1A05 The partition %s cannot be '
                                'shut down while it is %s'
                                % (obj.text('PartitionName'), state))
    if params.get('operation') == 'osshutdown' and \
            obj.text('ResourceMonitoringControlState') != 'active':
        raise errors.JobFailure('HSCL2997 OS shutdown of %s needs an '
                                'active RMC connection'
                                % obj.text('PartitionName'))
    set_state(sim, obj, 'shutting down')

    def finish():
        if obj.key in sim.store.objs:
            set_state(sim, obj, 'running' if restart else 'not activated')
            _power_done(sim, obj)
        return {}
    return errors.JobDelay(sim.power_delay_s, finish)


for _t in PARTITION_TYPES:
    reg.job(_t, 'PowerOn')(_power_on)
    reg.job(_t, 'PowerOff')(_power_off)


def _partition(sim, uuid):
    obj = (sim.store.get('LogicalPartition', uuid) or
           sim.store.get('VirtualIOServer', uuid))
    if obj is None:
        raise KeyError('No partition %s' % uuid)
    return obj


@reg.control('open_vterm')
def open_vterm(sim, lpar_uuid):
    """Open a console session on a partition, as an operator's mkvterm."""
    with sim.lock:
        obj = _partition(sim, lpar_uuid)
        vterms = sim.extra.setdefault(VTERMS, set())
        if obj.uuid in vterms:
            raise ValueError('Partition %s already has an open virtual '
                             'terminal' % lpar_uuid)
        vterms.add(obj.uuid)


@reg.control('vterm_open')
def vterm_open(sim, lpar_uuid):
    """Whether a partition has an open console session."""
    with sim.lock:
        return _partition(sim, lpar_uuid).uuid in sim.extra.get(VTERMS, ())


@reg.job('LogicalPartition', 'CloseVterm')
def _close_vterm(sim, obj, params, ctx):
    # Closing a partition's terminal when none is open succeeds.
    if obj is None:
        raise errors.JobFailure('CloseVterm needs a partition')
    sim.extra.get(VTERMS, set()).discard(obj.uuid)
    return {}


@reg.quick('LogicalPartition')
def _quick(sim, obj):
    out = {'UUID': obj.uuid}
    for name in ('PartitionName', 'PartitionID', 'PartitionUUID',
                 'PartitionState', 'PartitionType',
                 'ResourceMonitoringControlState', 'ReferenceCode',
                 'IsManagementPartition', 'OperatingSystemVersion'):
        val = obj.text(name)
        if name == 'PartitionID' and val is not None:
            val = int(val)
        elif name == 'IsManagementPartition':
            val = val == 'true'
        out[name] = val
    procs, mem = allocation(obj)
    out['CurrentMemory'] = int(mem)
    out['CurrentProcessingUnits'] = procs
    return out


reg.quick('VirtualIOServer')(_quick)


@reg.snapshot('partitions')
def _snap_partitions(sim):
    out = {}
    for o in partitions(sim):
        procs, mem = allocation(o)
        out[o.uuid] = {
            'type': o.type, 'name': o.text('PartitionName'),
            'id': int(o.text('PartitionID', '0')),
            'state': o.text('PartitionState'),
            'mgmt': o.text('IsManagementPartition') == 'true',
            'rmc': o.text('ResourceMonitoringControlState'),
            'vterm': o.uuid in sim.extra.get(VTERMS, ()),
            'proc_units': procs, 'memory_mb': int(mem)}
    return out


@reg.snapshot('host')
def _snap_host(sim):
    ms = sim.store.of_type('ManagedSystem')[0]
    return {'uuid': ms.uuid, 'name': ms.text('SystemName'),
            'free_proc_units': _num(
                ms.text(_PROC + 'CurrentAvailableSystemProcessorUnits')),
            'free_memory_mb': int(_num(
                ms.text(_MEM + 'CurrentAvailableSystemMemory')))}
