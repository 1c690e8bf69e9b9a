"""Live partition mobility between the hosts of a san (pypowervm's
``tasks.migration``: jobs ``MigrateValidate``, ``Migrate``, ``MigrateAbort``
and ``MigrateRecover`` on ``LogicalPartition/<uuid>/do/...``).

* ``MigrateValidate`` runs the checks of ``partition_mobility_check`` and
  changes nothing.  ``Migrate`` runs them too, then the partition is
  ``migrating running`` (``migrating not active`` for an inactive one) on
  the source and, with the same UUID, on the target (an ``ADD_URI`` there),
  ``MigrationState`` ``Migration_In_Progress``, both systems counting the
  migration in ``SystemMigrationInformation`` and the target holding its
  memory and processors.  After ``set_migration(duration_s=...)`` seconds
  (default 0.1; up to 2 s the job finishes inside the PUT, longer ones
  answer ``RUNNING``) its vSCSI and vFC mappings are rebuilt on the
  target's VIOSes (same client slots and WWPNs), its network adapters
  (same MACs, the target's switch of the same name) and NVRAM are on the
  target, and the source partition is gone with its mappings
  (``DELETE_URI`` on the source, ``MODIFY_URI`` on the target).
* ``MigrateAbort`` while it runs: back to running on the source only; the
  Migrate job ends (failed) at once.
* ``set_migration(fail='rollback')`` fails the next migration half-way,
  the source intact; ``fail='stuck'`` fails it leaving both sides
  ``Migration_Failed`` until ``MigrateRecover`` puts it back on the
  source.
"""
import copy
import functools
import re
import threading

from nova_powervm.simulator import errors
from nova_powervm.simulator import partition
from nova_powervm.simulator import partition_mobility_check as chk
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import storage_scsi as scsi
from nova_powervm.simulator import xmlutil as xu

MIGRATIONS = 'lpm_migrations'
SETTINGS = 'lpm_settings'
DEFAULT_S = 0.1
FAIL_MODES = (None, 'rollback', 'stuck')
RUNNING, FAILED, DONE = 'running', 'failed', 'done'
IN_PROGRESS, MIG_FAILED = 'Migration_In_Progress', 'Migration_Failed'


class Migration(object):
    def __init__(self, plan, fail, job=None):
        self.plan = plan
        self.fail = fail
        self.phase = RUNNING
        self.job = job      # the Migrate job's record (ended by an abort)


def _shared(sim):
    san = getattr(sim, 'san', None)
    return (san.extra if san is not None else sim.extra).setdefault(
        MIGRATIONS, {})


def _settings(sim):
    return sim.extra.setdefault(SETTINGS, {
        'duration_s': getattr(sim, 'migration_s', DEFAULT_S), 'fail': None})


@reg.control('set_migration')
def set_migration(sim, duration_s=None, fail=None):
    """How migrations started on this host run.

    ``duration_s`` (kept when None); ``fail`` for the next one only: None,
    'rollback' or 'stuck'.
    """
    if fail not in FAIL_MODES:
        raise ValueError('fail must be one of %s' % (FAIL_MODES,))
    with sim.lock:
        st = _settings(sim)
        if duration_s is not None:
            st['duration_s'] = max(0.0, float(duration_s))
        st['fail'] = fail
        return dict(st)


@reg.control('set_host_mobility')
def set_host_mobility(sim, active=None, inactive=None, proc_compat_modes=None,
                      max_active=None, max_inactive=None):
    """Change the system's mobility capabilities and limits.

    Active/inactive mobility capable, supported processor compatibility
    modes, maximum migrations (None: unchanged).
    """
    with sim.lock:
        ms = chk.host(sim)
        for kind, val in (('Active', active), ('Inactive', inactive)):
            if val is not None:
                ms.set('AssociatedSystemCapabilities/%sLogicalPartition'
                       'MobilityCapable' % kind, 'true' if val else 'false')
        for kind, val in (('Active', max_active),
                          ('Inactive', max_inactive)):
            if val is not None:
                ms.set(chk.MIGR + 'Maximum%sMigrations' % kind, int(val))
        if proc_compat_modes is not None:
            old = xu.descendants(
                ms.element, 'SupportedPartitionProcessorCompatibilityModes')
            parent = old[0].getparent()
            at = parent.index(old[0])
            for el in old:
                parent.remove(el)
            for i, mode in enumerate(proc_compat_modes):
                new = copy.deepcopy(old[0])
                new.text = mode
                parent.insert(at + i, new)
        sim.store.touch(ms)


@reg.control('set_mover_service')
def set_mover_service(sim, vios_uuid, msp=True):
    """Make a VIOS a mover service partition or not."""
    with sim.lock:
        vios = sim.store.get('VirtualIOServer', vios_uuid)
        if vios is None:
            raise KeyError('No VIOS %s on this host' % vios_uuid)
        vios.set('MoverServicePartition', 'true' if msp else 'false')
        sim.store.touch(vios)


@reg.control('set_npiv_login')
def set_npiv_login(sim, wwpn, allowed=True):
    """Whether this host's fabric lets ``wwpn`` log in (zoning)."""
    with sim.lock:
        refused = sim.extra.setdefault(chk.NPIV_REFUSED, set())
        w = chk.fc.norm_wwpn(wwpn)
        if allowed:
            refused.discard(w)
        else:
            refused.add(w)


@reg.seeder
def _seed_ips(sim):
    # Another host's VIOSes have their own addresses (MSP IPs).
    index = getattr(sim, 'host_index', 0)
    if not index:
        return
    for vios in sim.store.of_type('VirtualIOServer'):
        for d in vios.element.iter():
            if isinstance(d.tag, str) and xu.localname(d) in (
                    'IPAddress', 'ResourceMonitoringIPAddress') and \
                    (d.text or '').startswith('9.1.2.'):
                d.text = '9.1.%d.%s' % (2 + index, d.text.split('.')[-1])
        vios.cache.clear()


# ---- processor compatibility modes ---------------------------------------
@reg.on_create('LogicalPartition')
def _compat_on_create(sim, obj, ctx):
    # PowerVM's default preferred mode; the current one is set at boot.
    if not obj.text('PendingProcessorCompatibilityMode'):
        obj.set('PendingProcessorCompatibilityMode', 'default')


def _compat_on_boot(sim, obj):
    if obj.type != 'LogicalPartition' or \
            obj.text('PartitionState') not in partition.ACTIVE:
        return
    mode = obj.text('PendingProcessorCompatibilityMode') or 'default'
    if mode == 'default':
        # The highest mode the system supports (POWER8 on the default host).
        best = (0, 'default')
        for d in xu.descendants(
                chk.host(sim).element,
                'SupportedPartitionProcessorCompatibilityModes'):
            num = re.match(r'^POWER(\d+)$', d.text or '')
            if num and int(num.group(1)) > best[0]:
                best = (int(num.group(1)), d.text)
        mode = best[1]
    obj.set('CurrentProcessorCompatibilityMode', mode)


partition.POWER_HOOKS.append(_compat_on_boot)


# ---- states ---------------------------------------------------------------
def _mark(sim, obj, state, mig_state, data=None):
    obj.set('MigrationState', mig_state)
    obj.set('IsOperationInProgress',
            'false' if mig_state == chk.NOT_MIGRATING else 'true')
    if data is not None:
        obj.set('ProgressPartitionDataTotal', data[0])
        obj.set('ProgressPartitionDataRemaining', data[1])
    partition.set_state(sim, obj, state)


def _count(sim, active, delta):
    ms = chk.host(sim)
    path = chk.MIGR + 'NumberOf%sMigrationsInProgress' % (
        'Active' if active else 'Inactive')
    ms.set(path, max(0, int(chk._num(ms.text(path))) + delta))
    sim.store.touch(ms)


def _rehref(el, uuids):
    for d in el.iter():
        href = d.get('href') if isinstance(d.tag, str) else None
        if href:
            for old, new in uuids.items():
                href = href.replace(old, new)
            d.set('href', href)


def _shell(plan):
    """The partition on the target while it migrates (same UUID)."""
    src, dst, lpar = plan.src, plan.dst, plan.lpar
    el = copy.deepcopy(lpar.element)
    _rehref(el, {chk.host(src).uuid: chk.host(dst).uuid})
    used = {o.text('PartitionID') for o in partition.partitions(dst)}
    if lpar.text('PartitionID') in used:
        xu.set_text(el, 'PartitionID', partition._next_id(dst))
    obj = dst.store.add('LogicalPartition', lpar.uuid, el,
                        parent=chk.host(dst).key)
    partition.update_capacity(dst)
    return obj


def _mem(lpar):
    return int(partition.allocation(lpar)[1])


# ---- jobs -----------------------------------------------------------------
def _migrate(sim, lpar, params, ctx, validate_only=False):
    if lpar is None:
        raise errors.JobFailure('Migration jobs need a partition')
    plan = chk.plan(sim, lpar, params)
    if validate_only:
        return {}
    st = _settings(sim)
    mig = Migration(plan, st['fail'], ctx.get('job'))
    st['fail'] = None
    _shared(sim)[lpar.uuid] = mig
    state = 'migrating running' if plan.active else 'migrating not active'
    mem = _mem(lpar)
    for s in (plan.src, plan.dst):
        _count(s, plan.active, +1)
    _mark(sim, lpar, state, IN_PROGRESS, (mem, mem))
    shell = _shell(plan)
    _mark(plan.dst, shell, state, IN_PROGRESS, (mem, mem))
    secs = st['duration_s']
    if secs > 0:
        t = threading.Timer(secs / 2.0, _halfway, (sim, mig))
        t.daemon = True
        t.start()
    return errors.JobDelay(secs, functools.partial(_finish, sim, mig))


def _current(sim, mig):
    return _shared(sim).get(mig.plan.lpar.uuid) is mig


def _halfway(sim, mig):
    xu.mark_simulator_thread()
    with sim.lock:
        if not _current(sim, mig) or mig.phase != RUNNING:
            return
        mem = _mem(mig.plan.lpar)
        for s in (mig.plan.src, mig.plan.dst):
            o = s.store.get('LogicalPartition', mig.plan.lpar.uuid)
            if o is not None:
                o.set('ProgressPartitionDataRemaining', mem // 2)
                s.store.touch(o)


def _finish(sim, mig):
    name = mig.plan.lpar.text('PartitionName')
    if not _current(sim, mig) or mig.phase != RUNNING:
        raise errors.JobFailure('HSCL1B80 The migration of partition %s was '
                                'stopped' % name)
    if mig.fail == 'rollback':
        _rollback(sim, mig)
        raise errors.JobFailure('HSCL1B81 The migration of partition %s '
                                'failed; the partition is back on the source '
                                '(injected)' % name)
    if mig.fail == 'stuck':
        mig.phase = FAILED
        for s in (mig.plan.src, mig.plan.dst):
            o = s.store.get('LogicalPartition', mig.plan.lpar.uuid)
            o.set('MigrationState', MIG_FAILED)
            s.store.touch(o)
        raise errors.JobFailure('HSCL1B82 The migration of partition %s '
                                'failed; recover it with MigrateRecover '
                                '(injected)' % name)
    try:
        _build_target_maps(mig.plan)
    except errors.SimError as e:
        _rollback(sim, mig)
        raise errors.JobFailure('HSCL1B83 The migration of partition %s '
                                'failed on the target: %s' % (name,
                                                              e.message))
    _complete(sim, mig)
    return {}


def _new_map(tag, shell_href, src_m):
    m = stg.new_el(tag)
    xu.link(m, 'AssociatedLogicalPartition', shell_href)
    ca = stg.sub(m, 'ClientAdapter')
    xu.make(ca, 'AdapterType', 'Client')
    xu.make(ca, 'VirtualSlotNumber',
            xu.text(src_m, 'ClientAdapter/VirtualSlotNumber'))
    return m, ca


def _build_target_maps(plan):
    """The partition's mappings on the target's VIOSes (all or none)."""
    dst = plan.dst
    shell = dst.store.get('LogicalPartition', plan.lpar.uuid)
    href = dst.store.root_href(shell)
    todo = {}
    for _v, src_m, tv in plan.scsi:
        m, _ca = _new_map('VirtualSCSIMapping', href, src_m)
        s = scsi._storage_el(src_m)
        if s is not None:
            stg.sub(m, 'Storage', meta=False).append(stg.copy_el(s))
        todo.setdefault(tv.key, []).append(('VirtualSCSIMappings', m))
    for _v, src_m, tv, port in plan.vfc:
        m, ca = _new_map('VirtualFibreChannelMapping', href, src_m)
        xu.make(ca, 'WWPNs', xu.text(src_m, 'ClientAdapter/WWPNs'))
        xu.make(stg.sub(m, 'Port'), 'PortName', port)
        todo.setdefault(tv.key, []).append(('VirtualFibreChannelMappings',
                                            m))
    saved = {}
    ctx = {'undo': []}
    try:
        # SCSI first, then FC: a new mapping's own client slot must not
        # count as taken (the hooks publish slots after each round).
        for container in ('VirtualSCSIMappings',
                          'VirtualFibreChannelMappings'):
            for key, maps in todo.items():
                maps = [m for c, m in maps if c == container]
                if not maps:
                    continue
                tv = dst.store.get(*key)
                old = tv.element
                tv.element = copy.deepcopy(old)
                saved.setdefault(key, old)
                for m in maps:
                    xu.child(tv.element, container).append(m)
                reg.run_update_hooks(dst, tv, old, ctx)
    except Exception:
        reg.run_undo(ctx)
        for key, old in saved.items():
            dst.store.get(*key).element = old
        scsi.refresh_client_slots(dst)
        raise
    for key in saved:
        tv = dst.store.get(*key)
        dst.store.replace(tv, tv.element)


def _complete(sim, mig):
    plan = mig.plan
    src, dst, lpar = plan.src, plan.dst, plan.lpar
    shell = dst.store.get('LogicalPartition', lpar.uuid)
    uuids = {chk.host(src).uuid: chk.host(dst).uuid}
    for cna, sw in plan.cnas:
        el = copy.deepcopy(cna.element)
        link = xu.find(el, 'AssociatedVirtualSwitch/link')
        if link is not None:
            old_sw = link.get('href', '').rstrip('/').rsplit('/', 1)[-1]
            uuids[old_sw] = sw.uuid
        _rehref(el, uuids)
        xu.set_text(el, 'VirtualSwitchID', sw.text('SwitchID'))
        pvid = plan.pvids.get((cna.text('MACAddress') or '').upper())
        if pvid is not None:
            xu.set_text(el, 'PortVLANID', pvid[0])
            if pvid[1] is not None:
                xu.set_text(el, 'TaggedVLANIDs', ' '.join(pvid[1]))
        dst.store.add('ClientNetworkAdapter', cna.uuid, el,
                      parent=shell.key)
    # The source partition goes, its mappings with it (the cascade).
    partition.set_state(src, lpar, 'not activated', emit=False)
    src.extra.get(partition.VTERMS, set()).discard(lpar.uuid)
    src.store.remove(lpar, ctx={})
    partition.update_capacity(src)
    _end(sim, mig, dst, shell, (_mem(shell), 0))


def _end(sim, mig, host, obj, data):
    """The migration is over; the partition is ``obj`` on ``host``."""
    plan = mig.plan
    for s in (plan.src, plan.dst):
        _count(s, plan.active, -1)
    mig.phase = DONE
    _shared(sim).pop(plan.lpar.uuid, None)
    _mark(host, obj, 'running' if plan.active else 'not activated',
          chk.NOT_MIGRATING, data)


def _rollback(sim, mig):
    """Back on the source only, nothing left on the target."""
    plan = mig.plan
    src, dst, lpar = plan.src, plan.dst, plan.lpar
    shell = dst.store.get('LogicalPartition', lpar.uuid)
    if shell is not None:
        href = dst.store.href(shell)
        for kid in dst.store.children(shell.key):
            dst.store.discard(kid)
        dst.store.discard(shell)
        dst.events.emit('DELETE_URI', href, None)
        partition.update_capacity(dst)
    _end(sim, mig, src, lpar, (0, 0))


def _mig_of(sim, lpar, job):
    if lpar is None:
        raise errors.JobFailure('%s needs a partition' % job)
    return _shared(sim).get(lpar.uuid)


def _abort(sim, lpar, params, ctx):
    mig = _mig_of(sim, lpar, 'MigrateAbort')
    if mig is None or mig.phase != RUNNING:
        raise errors.JobFailure('HSCL1B84 Partition %s has no running '
                                'migration to stop'
                                % lpar.text('PartitionName'))
    _rollback(sim, mig)
    if mig.job is not None:
        # The Migrate job ends now, as PowerVM's does (not at its delay).
        mig.job.finish(failure=errors.JobFailure(
            'HSCL1B80 The migration of partition %s was stopped'
            % lpar.text('PartitionName')))
    return {}


def _recover(sim, lpar, params, ctx):
    mig = _mig_of(sim, lpar, 'MigrateRecover')
    name = lpar.text('PartitionName')
    if mig is None:
        raise errors.JobFailure('HSCL1B85 Partition %s has no failed '
                                'migration to recover' % name)
    if mig.phase == RUNNING:
        raise errors.JobFailure('HSCL1B86 The migration of partition %s is '
                                'still running; stop it with MigrateAbort'
                                % name)
    _rollback(sim, mig)
    return {}


reg.job('LogicalPartition', 'MigrateValidate')(
    functools.partial(_migrate, validate_only=True))
reg.job('LogicalPartition', 'Migrate')(_migrate)
reg.job('LogicalPartition', 'MigrateAbort')(_abort)
reg.job('LogicalPartition', 'MigrateRecover')(_recover)


@reg.on_update('LogicalPartition')
def _no_update_while_migrating(sim, obj, old, ctx):
    if (xu.text(old, 'MigrationState') or chk.NOT_MIGRATING) != \
            chk.NOT_MIGRATING:
        raise errors.SimError(409, 'HSCL1B87 Partition %s is migrating and '
                              'cannot be changed'
                              % xu.text(old, 'PartitionName'))


@reg.snapshot('migrations')
def _snap(sim):
    out = {}
    for uid, mig in _shared(sim).items():
        if sim in (mig.plan.src, mig.plan.dst):
            out[uid] = {'source': chk.host(mig.plan.src).text('SystemName'),
                        'target': chk.host(mig.plan.dst).text('SystemName'),
                        'phase': mig.phase}
    return out
