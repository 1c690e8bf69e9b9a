"""Partitions of nova instances: build from the flavor, create, delete, power.

The partition of an instance is built with pypowervm's ``lpar_builder``
from the flavor's vCPUs, memory and ``powervm:`` extra specs.  Every extra
spec is checked here (type, range, host capability, conflicts) so that a bad
flavor fails with a message naming the key and the allowed values before
anything is created on the host.  A new partition built from the same
attributes (but name and UUID) as an earlier one on the same host wrapper is
a copy of that one with its own name and UUID (see :func:`_build_new`).
"""
import collections
import copy
import threading

from nova.compute import power_state
from nova import exception as nova_exc
from nova.virt import hardware
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import strutils
from pypowervm import entities as pvm_ent
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import vterm as pvm_vterm
from pypowervm import util as pvm_u
from pypowervm.utils import lpar_builder as lpar_bldr
from pypowervm.wrappers import base_partition as pvm_bp
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import shared_proc_pool as pvm_spp

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

PREFIX = 'powervm:'

# Quick-property reads: .../LogicalPartition/<uuid>/quick/<property>
_SUFFIX_QUICK = 'quick'

# Partitions built for new instances (_build_new), the most recent
# _BUILT_MAX, for one host wrapper and adapter: {'for': (host wrapper,
# adapter), 'lpars': {attributes but name and UUID: wrapper}}.
_BUILT_MAX = 32
_built_lock = threading.Lock()
_built = {'for': None, 'lpars': collections.OrderedDict()}

# PowerVM partition state -> nova power state.
_POWER_STATE = {
    pvm_bp.LPARState.RUNNING: power_state.RUNNING,
    pvm_bp.LPARState.STARTING: power_state.RUNNING,
    # Firmware is up and the partition can be shut down.
    pvm_bp.LPARState.OPEN_FIRMWARE: power_state.RUNNING,
    # Running until it is actually off / suspended.
    pvm_bp.LPARState.SHUTTING_DOWN: power_state.RUNNING,
    pvm_bp.LPARState.SUSPENDING: power_state.RUNNING,
    pvm_bp.LPARState.MIGRATING_RUNNING: power_state.RUNNING,
    pvm_bp.LPARState.NOT_ACTIVATED: power_state.SHUTDOWN,
    pvm_bp.LPARState.MIGRATING_NOT_ACTIVE: power_state.SHUTDOWN,
    pvm_bp.LPARState.SUSPENDED: power_state.SUSPENDED,
    # Suspended until the resume completes.
    pvm_bp.LPARState.RESUMING: power_state.SUSPENDED,
    pvm_bp.LPARState.ERROR: power_state.CRASHED,
    pvm_bp.LPARState.HARDWARE_DISCOVERY: power_state.NOSTATE,
    pvm_bp.LPARState.NOT_AVAILBLE: power_state.NOSTATE,
}

_DED_SHARING_MODES = {
    'share_idle_procs': pvm_bp.DedicatedSharingMode.SHARE_IDLE_PROCS,
    'keep_idle_procs': pvm_bp.DedicatedSharingMode.KEEP_IDLE_PROCS,
    'share_idle_procs_active':
        pvm_bp.DedicatedSharingMode.SHARE_IDLE_PROCS_ACTIVE,
    'share_idle_procs_always':
        pvm_bp.DedicatedSharingMode.SHARE_IDLE_PROCS_ALWAYS,
}

# Keys whose presence means shared processors.
_SHARED_ONLY = ('proc_units', 'min_proc_units', 'max_proc_units', 'uncapped',
                'shared_weight', 'shared_proc_pool_name')

BOOL_ALLOWED = 'true or false'


def power_state_of(pvm_state):
    """nova power state for a PowerVM partition state string."""
    return _POWER_STATE.get((pvm_state or '').lower(), power_state.NOSTATE)


# -- extra spec parsing ------------------------------------------------------

def _bad(key, value, reason, allowed):
    return exc.InvalidFlavorExtraSpec(key=PREFIX + key, value=value,
                                      reason=reason, allowed=allowed)


def _parse_bool(key, value):
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise _bad(key, value, _('not a boolean.'), BOOL_ALLOWED)


def _parse_num(key, value, typ, low=None, high=None):
    allowed = {int: _('an integer'), float: _('a number')}[typ]
    if low is not None and high is not None:
        allowed += _(' from %(low)s to %(high)s') % {'low': low, 'high': high}
    elif low is not None:
        allowed += _(' of at least %s') % low
    try:
        num = typ(value)
    except (TypeError, ValueError):
        raise _bad(key, value, _('not a number.'), allowed)
    if (low is not None and num < low) or (high is not None and num > high):
        raise _bad(key, value, _('out of range.'), allowed)
    return num


def _parse_choice(key, value, choices, host_modes=False):
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    reason = (_('not supported by this host.') if host_modes else
              _('not a known value.'))
    raise _bad(key, value, reason, ', '.join(sorted(choices)))


def _specs(flavor):
    """The ``powervm:`` extra specs of a flavor, without the prefix."""
    ret = {}
    for key, value in (flavor.extra_specs or {}).items():
        if key.startswith(PREFIX):
            ret[key[len(PREFIX):]] = value.strip()
    return ret


def _require_cap(host_w, cap, key, value):
    if not host_w.get_capability(cap):
        raise _bad(key, value, _('the managed system does not support it.'),
                   _('not set (unsupported on this host)'))


def _proc_attrs(specs, vcpus, attrs):
    """Processor attributes (shared or dedicated) from the specs."""
    ded = None
    if 'dedicated_proc' in specs:
        ded = _parse_bool('dedicated_proc', specs['dedicated_proc'])
    if 'dedicated_sharing_mode' in specs:
        value = specs['dedicated_sharing_mode']
        if ded is False:
            raise _bad('dedicated_sharing_mode', value,
                       _('conflicts with powervm:dedicated_proc=false.'),
                       _('only with dedicated processors'))
        mode = _parse_choice('dedicated_sharing_mode', value,
                             _DED_SHARING_MODES)
        attrs[lpar_bldr.SHARING_MODE] = _DED_SHARING_MODES[mode]
        ded = True
    if ded:
        attrs[lpar_bldr.DED_PROCS] = True
        for key in _SHARED_ONLY:
            if key in specs:
                raise _bad(key, specs[key],
                           _('conflicts with dedicated processors '
                             '(powervm:dedicated_proc / '
                             'powervm:dedicated_sharing_mode).'),
                           _('only with shared processors'))
        return
    if ded is False:
        attrs[lpar_bldr.DED_PROCS] = False

    units = {}
    for key, bkey in (('min_proc_units', lpar_bldr.MIN_PROC_U),
                      ('proc_units', lpar_bldr.PROC_UNITS),
                      ('max_proc_units', lpar_bldr.MAX_PROC_U)):
        if key in specs:
            units[key] = _parse_num(key, specs[key], float, 0.05)
            attrs[bkey] = units[key]
    if 'proc_units' in units:
        pu = units['proc_units']
        if pu > vcpus or pu < 0.05 * vcpus:
            raise _bad('proc_units', specs['proc_units'],
                       _('each of the flavor\'s %d vCPUs needs 0.05 to 1 '
                         'processor units.') % vcpus,
                       _('%(low).2f to %(high)d') % {'low': 0.05 * vcpus,
                                                     'high': vcpus})
        if pu < units.get('min_proc_units', pu):
            raise _bad('min_proc_units', specs['min_proc_units'],
                       _('above powervm:proc_units.'),
                       _('at most %s') % pu)
        if pu > units.get('max_proc_units', pu):
            raise _bad('max_proc_units', specs['max_proc_units'],
                       _('below powervm:proc_units.'),
                       _('at least %s') % pu)

    uncapped = None
    if 'uncapped' in specs:
        uncapped = _parse_bool('uncapped', specs['uncapped'])
        attrs[lpar_bldr.SHARING_MODE] = (
            pvm_bp.SharingMode.UNCAPPED if uncapped
            else pvm_bp.SharingMode.CAPPED)
    if 'shared_weight' in specs:
        value = specs['shared_weight']
        if uncapped is False:
            raise _bad('shared_weight', value,
                       _('conflicts with powervm:uncapped=false.'),
                       _('only with uncapped shared processors'))
        attrs[lpar_bldr.UNCAPPED_WEIGHT] = _parse_num(
            'shared_weight', value, int, 0, 255)


def _mem_vcpu_attrs(specs, host_w, flavor, attrs):
    lmb = host_w.memory_region_size
    for key, bkey, low in (('min_mem', lpar_bldr.MIN_MEM,
                            lpar_bldr.MEM_LOW_BOUND),
                           ('max_mem', lpar_bldr.MAX_MEM,
                            lpar_bldr.MEM_LOW_BOUND),
                           ('min_vcpu', lpar_bldr.MIN_VCPU, 1),
                           ('max_vcpu', lpar_bldr.MAX_VCPU, 1)):
        if key not in specs:
            continue
        value = specs[key]
        num = _parse_num(key, value, int, low)
        is_mem = key.endswith('mem')
        desired = flavor.memory_mb if is_mem else flavor.vcpus
        what = _('memory_mb') if is_mem else _('vcpus')
        if key.startswith('min') and num > desired:
            raise _bad(key, value, _('above the flavor\'s %(w)s (%(d)d).')
                       % {'w': what, 'd': desired},
                       _('%(low)d to %(d)d') % {'low': low, 'd': desired})
        if key.startswith('max') and num < desired:
            raise _bad(key, value, _('below the flavor\'s %(w)s (%(d)d).')
                       % {'w': what, 'd': desired},
                       _('at least %d') % desired)
        if is_mem and lmb and num % lmb:
            raise _bad(key, value, _('not a multiple of the host\'s logical '
                                     'memory block size.'),
                       _('a multiple of %d MB') % lmb)
        attrs[bkey] = num


def _general_attrs(specs, host_w, attrs):
    if 'availability_priority' in specs:
        attrs[lpar_bldr.AVAIL_PRIORITY] = _parse_num(
            'availability_priority', specs['availability_priority'],
            int, 0, 255)
    if 'processor_compatibility' in specs:
        # Accept the "POWER6+" spelling for "POWER6_Plus".
        value = specs['processor_compatibility'].replace('+', '_Plus')
        modes = host_w.proc_compat_modes or pvm_bp.LPARCompat.ALL_VALUES
        attrs[lpar_bldr.PROC_COMPAT] = _parse_choice(
            'processor_compatibility', value, modes, host_modes=True)
    if 'srr_capability' in specs:
        value = specs['srr_capability']
        srr = _parse_bool('srr_capability', value)
        if srr:
            _require_cap(host_w, 'simplified_remote_restart_capable',
                         'srr_capability', value)
        attrs[lpar_bldr.SRR_CAPABLE] = srr
    if 'enable_lpar_metric' in specs:
        attrs[lpar_bldr.ENABLE_LPAR_METRIC] = _parse_bool(
            'enable_lpar_metric', specs['enable_lpar_metric'])
    if 'ppt_ratio' in specs:
        value = specs['ppt_ratio']
        ratio = _parse_choice('ppt_ratio', value,
                              lpar_bldr.ALLOWED_PPT_RATIOS)
        _require_cap(host_w, 'physical_page_table_ratio_capable',
                     'ppt_ratio', value)
        attrs[lpar_bldr.PPT_RATIO] = ratio
    if 'secure_boot' in specs:
        value = specs['secure_boot']
        level = _parse_num('secure_boot', value, int, 0, 9)
        if level:
            _require_cap(host_w, 'partition_secure_boot_capable',
                         'secure_boot', value)
        attrs[lpar_bldr.SECURE_BOOT] = level
    if 'enforce_affinity_check' in specs:
        value = specs['enforce_affinity_check']
        check = _parse_bool('enforce_affinity_check', value)
        if check:
            _require_cap(host_w, 'affinity_check_capable',
                         'enforce_affinity_check', value)
        attrs[lpar_bldr.ENFORCE_AFFINITY_CHECK] = check


_KNOWN = frozenset((
    'proc_units', 'dedicated_proc', 'dedicated_sharing_mode', 'uncapped',
    'shared_weight', 'shared_proc_pool_name', 'availability_priority',
    'processor_compatibility', 'srr_capability', 'min_mem', 'max_mem',
    'min_vcpu', 'max_vcpu', 'min_proc_units', 'max_proc_units',
    'enable_lpar_metric', 'ppt_ratio', 'secure_boot',
    'enforce_affinity_check'))


def refuse_ibmi(instance, image_meta=None):
    """Refuse an IBM i image (``os_distro=ibmi``) before anything is made.

    Checks the image's properties and the instance's ``image_os_distro``
    system metadata (nova copies the image properties there).

    :raises IBMiNotSupported: naming the instance and the image.
    """
    distros = [(instance.system_metadata or {}).get('image_os_distro')]
    props = getattr(image_meta, 'properties', None)
    if props is not None and props.obj_attr_is_set('os_distro'):
        distros.append(props.os_distro)
    if any((d or '').lower() == 'ibmi' for d in distros):
        image_id = (image_meta.id if image_meta is not None and
                    image_meta.obj_attr_is_set('id') else
                    instance.image_ref)
        raise exc.IBMiNotSupported(instance=instance.uuid,
                                   image_id=image_id)


def lpar_attrs(host_w, instance, flavor=None):
    """lpar_builder attributes for ``instance`` (no REST call).

    ``powervm:shared_proc_pool_name`` is returned unresolved under the
    key ``'shared_proc_pool_name'`` (resolving it needs the host's pools).

    :param flavor: the flavor to build for (default: the instance's; a
        resize passes the new or old one).
    :raises InvalidFlavorExtraSpec: naming the key and the allowed values.
    """
    flavor = flavor or instance.flavor
    specs = _specs(flavor)
    for key in sorted(set(specs) - _KNOWN):
        LOG.warning('Ignoring unknown flavor extra spec %s%s.', PREFIX, key,
                    instance=instance)
    attrs = {
        lpar_bldr.NAME: pvm_u.sanitize_partition_name_for_api(instance.name),
        lpar_bldr.UUID: ids.pvm_uuid(instance),
        lpar_bldr.MEM: flavor.memory_mb,
        lpar_bldr.VCPU: flavor.vcpus,
        lpar_bldr.ENV: pvm_bp.LPARType.AIXLINUX,
    }
    refuse_ibmi(instance)
    _mem_vcpu_attrs(specs, host_w, flavor, attrs)
    _proc_attrs(specs, flavor.vcpus, attrs)
    _general_attrs(specs, host_w, attrs)
    if specs.get('shared_proc_pool_name'):
        attrs['shared_proc_pool_name'] = specs['shared_proc_pool_name']
    elif 'shared_proc_pool_name' in specs:
        raise _bad('shared_proc_pool_name', '', _('empty.'),
                   _('the name of a shared processor pool of this host'))
    return attrs


def _resolve_pool(adapter, host_w, name):
    """Shared processor pool id for ``name`` (one feed read)."""
    if name == 'DefaultPool':
        return 0
    pools = pvm_spp.SharedProcPool.get(adapter, parent=host_w)
    for pool in pools:
        if pool.name == name:
            return pool.id
    raise _bad('shared_proc_pool_name', name,
               _('no shared processor pool of that name on this host.'),
               ', '.join(sorted(['DefaultPool'] +
                                [p.name for p in pools if p.name])))


def build_lpar(adapter, host_w, instance, flavor=None, existing=None):
    """Build (locally) the LPAR wrapper for ``instance``.

    Only ``powervm:shared_proc_pool_name`` costs a REST read.

    :param flavor: see :func:`lpar_attrs`.
    :param existing: an LPAR wrapper to rebuild in place (resize): its
        name, memory, processor and general settings follow the flavor.
    :raises InvalidFlavorExtraSpec: invalid or conflicting extra spec.
    """
    flavor = flavor or instance.flavor
    attrs = lpar_attrs(host_w, instance, flavor)
    pool = attrs.pop('shared_proc_pool_name', None)
    if pool is not None:
        attrs[lpar_bldr.SPP] = _resolve_pool(adapter, host_w, pool)
    stdz = lpar_bldr.DefaultStandardize(
        host_w, proc_units_factor=CONF.powervm.proc_units_factor,
        uncapped_weight=CONF.powervm.uncapped_proc_weight)
    try:
        builder = lpar_bldr.LPARBuilder(adapter, attrs, stdz)
        if existing is not None:
            return builder.rebuild(existing)
        return _build_new(adapter, host_w, builder, attrs)
    except (ValueError, TypeError, lpar_bldr.LPARBuilderException) as e:
        # Extra specs were checked above; what is left is the flavor itself
        # (e.g. memory not a multiple of the memory block size).
        raise exc.InvalidFlavorExtraSpec(
            key=_('flavor %s') % flavor.name,
            value='vcpus=%s,memory_mb=%s' % (flavor.vcpus, flavor.memory_mb),
            reason=str(e),
            allowed=_('values the managed system accepts (memory a '
                      'multiple of %d MB)') % host_w.memory_region_size)


def _copy(lpar_w):
    entry = lpar_w.entry
    return type(lpar_w).wrap(pvm_ent.Entry(
        copy.deepcopy(entry.properties), copy.deepcopy(entry.element.element),
        entry.adapter))


def _built_for(host_w, adapter):
    owner = _built['for']
    return owner is not None and owner[0] is host_w and owner[1] is adapter


def _build_new(adapter, host_w, builder, attrs):
    """``builder.build()``; a copy when built from these attributes before.

    pypowervm's builder places every element in schema order (about 2.4 ms
    of CPU per partition); a copy of a partition built from the same
    attributes but name and UUID, for the same host wrapper (what the
    builder checks them against) and adapter, with the new name and UUID
    set, is the same XML (about 0.06 ms).  A name the builder refuses is
    refused by the builder.
    """
    name = attrs[lpar_bldr.NAME]
    try:
        key = (CONF.powervm.proc_units_factor,
               CONF.powervm.uncapped_proc_weight, lpar_bldr.UUID in attrs,
               tuple(sorted((k, v) for k, v in attrs.items()
                            if k not in (lpar_bldr.NAME, lpar_bldr.UUID))))
        hash(key)
    except TypeError:
        return builder.build()
    with _built_lock:
        if not _built_for(host_w, adapter):
            _built['for'] = (host_w, adapter)
            _built['lpars'].clear()
        found = _built['lpars'].get(key)
        if found is not None:
            _built['lpars'].move_to_end(key)
            lpar_w = _copy(found)
    if found is None or not 1 <= len(name) <= lpar_bldr.MAX_LPAR_NAME_LEN:
        lpar_w = builder.build()
        with _built_lock:
            if _built_for(host_w, adapter):
                _built['lpars'][key] = _copy(lpar_w)
                while len(_built['lpars']) > _BUILT_MAX:
                    _built['lpars'].popitem(last=False)
        return lpar_w
    lpar_w.name = name
    if lpar_bldr.UUID in attrs:
        lpar_w.uuid = attrs[lpar_bldr.UUID]
    return lpar_w


# -- REST operations ---------------------------------------------------------

def get_instance_wrapper(adapter, instance, xag=None):
    """The LPAR wrapper of ``instance`` (one GET, no extended groups).

    :raises InstanceNotFound: no partition for the instance.
    """
    try:
        return pvm_lpar.LPAR.get(adapter, uuid=ids.pvm_uuid(instance),
                                 xag=xag)
    except pvm_exc.HttpError as e:
        if e.response is not None and e.response.status == 404:
            raise nova_exc.InstanceNotFound(instance_id=instance.uuid)
        raise


def create_lpar(adapter, host_wrapper, instance, lpar_w=None):
    """Create the partition of ``instance``; return the created wrapper.

    :param lpar_w: the wrapper from :func:`build_lpar` (built here if None).
    """
    if lpar_w is None:
        lpar_w = build_lpar(adapter, host_wrapper, instance)
    created = lpar_w.create(parent=host_wrapper)
    LOG.info('Created partition %(name)s (%(uuid)s).',
             {'name': created.name, 'uuid': created.uuid}, instance=instance)
    return created


def _vterm_refusal(error):
    """Whether a refused DELETE names an open virtual terminal."""
    text = str(error)
    if error.response is not None and error.response.body:
        text += str(error.response.body)
    return _VTERM_OPEN_CODE in text


# The code the REST API answers a DELETE of a partition whose console
# (virtual terminal) is open with.
_VTERM_OPEN_CODE = 'HSCL151B'


def _delete(adapter, uuid, instance):
    """DELETE the partition; False when it was already gone."""
    try:
        adapter.delete(pvm_lpar.LPAR.schema_type, root_id=uuid)
    except pvm_exc.HttpError as e:
        if e.response is not None and e.response.status == 404:
            LOG.info('Partition %s is already gone.', uuid,
                     instance=instance)
            return False
        raise
    return True


def delete_lpar(adapter, instance):
    """Delete the partition of ``instance``; a missing one is success.

    A partition with an open virtual terminal cannot be deleted: when the
    DELETE is refused for that reason, the terminal is closed
    (pypowervm's ``close_vterm``) and the DELETE sent again.  Closing it
    first every time would cost a job (two or three requests) per destroy,
    and the API offers no cheap way to ask whether one is open.
    """
    uuid = ids.pvm_uuid(instance)
    try:
        deleted = _delete(adapter, uuid, instance)
    except pvm_exc.HttpError as e:
        if not _vterm_refusal(e):
            raise
        LOG.info('Partition %s has an open virtual terminal; closing it.',
                 uuid, instance=instance)
        pvm_vterm.close_vterm(adapter, uuid)
        deleted = _delete(adapter, uuid, instance)
    if deleted:
        LOG.info('Deleted partition %s.', uuid, instance=instance)


def get_vm_qp(adapter, lpar_uuid, qprop=None):
    """Read one quick property of a partition, or all (one small GET).

    :param qprop: the property's name; None: all of them (a dict).

    :raises InstanceNotFound: no such partition.
    """
    try:
        resp = adapter.read(pvm_lpar.LPAR.schema_type, root_id=lpar_uuid,
                            suffix_type=_SUFFIX_QUICK,
                            suffix_parm=qprop)
    except pvm_exc.HttpError as e:
        if e.response is not None and e.response.status == 404:
            raise nova_exc.InstanceNotFound(instance_id=lpar_uuid)
        raise
    return jsonutils.loads(resp.body)


def get_info(adapter, instance):
    """nova InstanceInfo from the partition's state (one GET)."""
    try:
        state = get_vm_qp(adapter, ids.pvm_uuid(instance), 'PartitionState')
    except nova_exc.InstanceNotFound:
        raise nova_exc.InstanceNotFound(instance_id=instance.uuid)
    return hardware.InstanceInfo(state=power_state_of(state))


def resize_lpar(adapter, host_w, instance, lpar_w, flavor):
    """Give the partition ``lpar_w`` the resources of ``flavor`` (one POST).

    :returns: the updated wrapper.
    :raises InvalidFlavorExtraSpec: before the POST.
    """
    new_w = build_lpar(adapter, host_w, instance, flavor, existing=lpar_w)
    LOG.info('Applying flavor %(flavor)s to the partition.',
             {'flavor': flavor.name}, instance=instance)
    return new_w.update()
