"""iSCSI: targets, portals, CHAP, the VIOSes' initiators and sessions.

pypowervm's ``tasks.hdisk`` iSCSI functions run two VIOS jobs:

* ``ISCSIDiscovery`` without ``targetIQN``/``hostIP``
  (``discover_iscsi_initiator``): ``RETURN_CODE`` 0 and the VIOS's
  ``InitiatorName``.
* ``ISCSIDiscovery`` with ``hostIP``, ``targetIQN``, ``targetLUN``
  (single values, or ``[a,b]`` lists when ``multipath`` is ``True``),
  ``auth``/``user``/``password`` (CHAP), ``ifaceName``: each
  (portal, IQN) path logs in unless its portal is unreachable
  (``RETURN_CODE`` 8), the portal does not serve the target (21), the
  iface is unknown (21) or the CHAP credentials are wrong (24).  A path that
  logs in keeps its session (15 when it existed already).  The LUN then
  shows up as an ``hdiskN`` PhysicalVolume (one UDID per target LUN, the
  same on every VIOS; capacity re-read on every discovery: the rescan an
  extend does) and ``DEV_OUTPUT`` lists ``"<iqn> <hdisk> <udid>"``.  When
  no path logs in the job fails, its results still carrying the
  ``RETURN_CODE``.  A LUN the target does not have gives an empty
  ``DEV_OUTPUT`` (the sessions stay, as on a real VIOS).
* ``ISCSIRemove`` (``remove_iscsi``): removes the LUN's hdisk (refused while
  a virtual SCSI mapping uses it: ``RETURN_CODE`` 1) and logs out of every
  session of the target that no hdisk of it needs any more; 21 when there
  was nothing to remove.

Tests define targets with the ``add_iscsi_target`` control; a LUN's
contents are a file (``iscsi_lun_path``), like any disk's.
"""
import hashlib

from nova_powervm.simulator import errors
from nova_powervm.simulator import fc
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import xmlutil as xu

OK, LOGIN_ERR, INVAL, TIMEOUT, SESS_EXISTS, NO_OBJS, AUTH_FAILED = (
    '0', '5', '7', '8', '15', '21', '24')
BUSY = '1'
IFACES = ('default', 'iser', 'cxgb4i', 'bnx2i', 'be2iscsi')


def _targets(sim):
    return sim.extra.setdefault('iscsi_targets', {})


def _down(sim):
    return sim.extra.setdefault('iscsi_down', set())


def sessions(sim, vios):
    """{(iqn, portal)} logged in from this VIOS."""
    return sim.extra.setdefault(('iscsi_sessions', vios.key), set())


def lun_udid(iqn, lun):
    """The UDID every VIOS gives a target's LUN."""
    digest = hashlib.sha1(('%s/%s' % (iqn, lun)).encode(),
                          usedforsecurity=False).hexdigest()
    return '01M0lSVNDU0k%s' % digest[:28].upper()


def initiator_name(vios):
    return 'iqn.1986-03.com.ibm:%s-%s' % (
        vios.text('PartitionName'), vios.uuid.split('-')[0].lower())


@reg.control('add_iscsi_target')
def add_iscsi_target(sim, iqn, portals, luns=None, chap_user=None,
                     chap_secret=None):
    """Define a target reachable at ``portals`` ('ip:port' list).

    :param luns: {lun: size GB} (default one 1 GB LUN 0).
    :param chap_user, chap_secret: CHAP credentials the target requires.
    """
    with sim.lock:
        _targets(sim)[iqn] = {
            'portals': list(portals),
            'luns': {int(k): float(v) for k, v in (luns or {0: 1}).items()},
            'chap': (chap_user, chap_secret) if chap_user else None}


@reg.control('set_iscsi_portal_reachable')
def set_iscsi_portal_reachable(sim, portal, reachable=True):
    """Make a target portal (un)reachable from every VIOS."""
    with sim.lock:
        (_down(sim).discard if reachable else _down(sim).add)(portal)


@reg.control('resize_iscsi_lun')
def resize_iscsi_lun(sim, iqn, lun, gb):
    """Grow a LUN on its target (the VIOS sees it on the next rescan)."""
    with sim.lock:
        _targets(sim)[iqn]['luns'][int(lun)] = float(gb)


@reg.control('iscsi_lun_path')
def iscsi_lun_path(sim, iqn, lun):
    """The file holding a LUN's contents (its whole size)."""
    with sim.lock:
        size = _targets(sim)[iqn]['luns'][int(lun)]
        return stg.whole_content_path(sim, lun_udid(iqn, lun),
                                      int(size * stg.GB))


def _values(raw):
    """A job parameter's value(s): 'a' or '[a,b]' -> list."""
    raw = (raw or '').strip()
    if raw.startswith('[') and raw.endswith(']'):
        return [v.strip() for v in raw[1:-1].split(',') if v.strip()]
    return [raw] if raw else []


def _fail(code, message):
    raise errors.JobFailure('ISCSI command failed (status %s): %s'
                            % (code, message),
                            results={'RETURN_CODE': code,
                                     'DEV_OUTPUT': '[]'})


def _paths(params):
    """[(portal, iqn, lun)] the job asks for (lun may be None)."""
    portals = _values(params.get('hostIP'))
    iqns = _values(params.get('targetIQN'))
    luns = _values(params.get('targetLUN'))
    multipath = params.get('multipath') == 'True'
    if not portals or not iqns:
        _fail(INVAL, 'hostIP and targetIQN are required')
    if not multipath and (len(portals) > 1 or len(iqns) > 1):
        _fail(INVAL, 'several portals or IQNs need multipath')
    n = max(len(portals), len(iqns))
    if len(iqns) == 1:
        iqns = iqns * n
    if len(portals) == 1:
        portals = portals * n
    if len(luns) <= 1:
        luns = (luns or [None]) * n
    if not len(portals) == len(iqns) == len(luns):
        _fail(INVAL, 'hostIP, targetIQN and targetLUN lists differ in '
                     'length')
    return list(zip(portals, iqns, luns))


def _login(sim, vios, portal, iqn, params):
    """Log one path in; returns a RETURN_CODE."""
    if (params.get('ifaceName') or 'default') not in IFACES:
        return NO_OBJS
    if portal in _down(sim):
        return TIMEOUT
    target = _targets(sim).get(iqn)
    if target is None or portal not in target['portals']:
        return NO_OBJS
    if (iqn, portal) in sessions(sim, vios):
        return SESS_EXISTS
    chap = target['chap']
    if chap and (params.get('auth', '').upper() != 'CHAP' or (
            params.get('user'), params.get('password')) != chap):
        return AUTH_FAILED
    sessions(sim, vios).add((iqn, portal))
    return OK


def _hdisk(sim, vios, iqn, lun):
    """(name, udid) of the LUN's hdisk on this VIOS (created/rescanned)."""
    size = _targets(sim)[iqn]['luns'][lun]
    udid = lun_udid(iqn, lun)
    pvs = fc.pv_list(vios)
    for pv in xu.findall(pvs, 'PhysicalVolume'):
        if xu.text(pv, 'UniqueDeviceID') == udid:
            xu.set_text(pv, 'VolumeCapacity', int(size * 1024))
            vios.cache.clear()
            return xu.text(pv, 'VolumeName'), udid
    name = fc.next_hdisk_name(pvs)
    pv = stg.new_el('PhysicalVolume')
    for k, v in (('Description', 'MPIO Other iSCSI Disk Drive'),
                 ('LocationCode', 'U78AF.001.WZS04LA-%s-L%s' % (
                     iqn.rsplit(':', 1)[-1], lun)),
                 ('ReservePolicy', 'NoReserve'),
                 ('ReservePolicyAlgorithm', 'round_robin'),
                 ('UniqueDeviceID', udid), ('AvailableForUsage', 'true'),
                 ('VolumeCapacity', int(size * 1024)), ('VolumeName', name),
                 ('VolumeState', 'active'), ('VolumeUniqueID', udid[2:]),
                 ('IsFibreChannelBacked', 'false')):
        xu.make(pv, k, v)
    pvs.append(pv)
    vios.cache.clear()
    return name, udid


@reg.job('VirtualIOServer', 'ISCSIDiscovery')
def _discovery(sim, vios, params, ctx):
    if not params.get('hostIP') and not params.get('targetIQN'):
        return {'RETURN_CODE': OK, 'InitiatorName': initiator_name(vios)}
    paths = _paths(params)
    codes = [(path, _login(sim, vios, path[0], path[1], params))
             for path in paths]
    good = [path for path, code in codes if code in (OK, SESS_EXISTS)]
    if not good:
        bad = max(int(code) for _p, code in codes)
        _fail(str(bad), 'no path to target %s logged in from %s' % (
            ', '.join(sorted({p[1] for p in paths})),
            vios.text('PartitionName')))
    status = (SESS_EXISTS if all(code == SESS_EXISTS for _p, code in codes)
              else OK)
    out = []
    for _portal, iqn, lun in good:
        luns = _targets(sim)[iqn]['luns']
        lun = int(lun) if lun is not None and str(lun).isdigit() else (
            min(luns) if lun is None and luns else None)
        if lun not in luns:
            continue
        name, udid = _hdisk(sim, vios, iqn, lun)
        entry = '%s %s %s' % (iqn, name, udid)
        if entry not in out:
            out.append(entry)
    return {'RETURN_CODE': status, 'DEV_OUTPUT': repr(out)}


@reg.job('VirtualIOServer', 'ISCSIRemove')
def _remove(sim, vios, params, ctx):
    iqns = set(_values(params.get('targetIQN')))
    luns = _values(params.get('targetLUN'))
    portals = set(_values(params.get('targetPORTAL')))
    if not iqns:
        _fail(INVAL, 'targetIQN is required')
    pvs = fc.pv_list(vios)
    removed = False
    for iqn in iqns:
        for lun in luns:
            udid = lun_udid(iqn, int(lun)) if lun.isdigit() else None
            for pv in xu.findall(pvs, 'PhysicalVolume'):
                if xu.text(pv, 'UniqueDeviceID') != udid:
                    continue
                if stg.storage_in_use(sim, vios.key, udid):
                    _fail(BUSY, 'device %s is busy (mapped by a virtual '
                                'SCSI mapping)' % xu.text(pv, 'VolumeName'))
                pvs.remove(pv)
                vios.cache.clear()
                removed = True
    # Log out of the target's sessions no remaining hdisk needs.
    left = {xu.text(pv, 'UniqueDeviceID')
            for pv in xu.findall(pvs, 'PhysicalVolume')}
    mine = sessions(sim, vios)
    for iqn, portal in sorted(mine):
        if iqn not in iqns or (portals and portal not in portals):
            continue
        used = any(lun_udid(iqn, lun) in left
                   for lun in _targets(sim).get(iqn, {}).get('luns', ()))
        if not used:
            mine.discard((iqn, portal))
            removed = True
    return {'RETURN_CODE': OK if removed else NO_OBJS}


@reg.snapshot('iscsi_sessions')
def _snap_sessions(sim):
    """{VIOS name: sorted ['iqn@portal']} of logged-in sessions."""
    return {v.text('PartitionName'): sorted(
        '%s@%s' % s for s in sessions(sim, v)) for v in stg.vioses(sim)}
