"""iSCSI connector.

Each active Virtual I/O Server logs in to the volume's target portal(s)
with its own software initiator (pypowervm's ``ISCSIDiscovery`` job:
``tasks.hdisk.discover_iscsi``), CHAP credentials and the
``[powervm] iscsi_iface`` iface included, and maps the hdisk that appears
to the partition over virtual SCSI, as the vSCSI Fibre Channel connector
does.  Detach unmaps it, then ``remove_iscsi`` deletes the hdisk and the
VIOS logs out of the target's sessions that no other hdisk needs.

With ``[powervm] volume_use_multipath`` every portal Cinder lists
(``target_portals``/``target_iqns``/``target_luns``) is a path; otherwise
the one ``target_portal``.  CHAP secrets are passed to pypowervm only:
never logged, never in an exception text.
"""
import re
import threading
import time

from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import partition as pvm_par

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm.volume import vscsi

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# RETURN_CODEs of the iSCSI jobs worth a sentence of their own.
_REASONS = {
    '5': 'login to the target failed',
    '7': 'the VIOS refused the arguments',
    '8': 'the target portal is unreachable (connection timed out)',
    '21': 'the portal does not offer the target (or the iface is unknown)',
    '23': 'the iface\'s host adapter was not found',
    '24': 'CHAP authentication failed',
}

_SUCCESS = '0'

# {host_uuid: (expiry, initiator IQN or None)}
_INITIATOR_CACHE = {}
_INITIATOR_TTL = 300
# No VIOS answered (no iSCSI on this host, or a failure): asked again after
# a minute, not on every connector call (attach, detach, spawn, destroy).
_NO_INITIATOR_TTL = 60
_LOCK = threading.Lock()


def _first_initiator(adapter):
    """IQN of the first active VIOS (by ID) that gives one, or None."""
    try:
        vioses = sorted(pvm_par.get_active_vioses(adapter),
                        key=lambda v: v.id)
    except pvm_exc.Error as exc:
        LOG.warning('Listing the Virtual I/O Servers for their iSCSI '
                    'initiator failed: %s', exc)
        return None
    for vios_w in vioses:
        try:
            iqn = tsk_hdisk.discover_iscsi_initiator(adapter, vios_w.uuid)
        except pvm_exc.Error as exc:
            LOG.warning('Reading the iSCSI initiator of Virtual I/O Server '
                        '%(vios)s failed: %(exc)s',
                        {'vios': vios_w.name, 'exc': exc})
            continue
        if iqn:
            return iqn
    return None


def initiator(adapter, host_uuid):
    """IQN of the first active VIOS's initiator (cached 5 minutes).

    None when no VIOS answers (an iSCSI-less VIOS level): Cinder then
    gets no ``initiator``; Fibre Channel still works.  That answer is
    cached for a minute.
    """
    now = time.monotonic()
    with _LOCK:
        cached = _INITIATOR_CACHE.get(host_uuid)
        if cached and cached[0] > now:
            return cached[1]
    iqn = _first_initiator(adapter)
    ttl = _INITIATOR_TTL if iqn else _NO_INITIATOR_TTL
    with _LOCK:
        _INITIATOR_CACHE[host_uuid] = (now + ttl, iqn)
    return iqn


class ISCSITargets(object):
    """The target side of a Cinder iSCSI ``connection_info``."""

    def __init__(self, volume_id, data, multipath,
                 exc_cls=nova_exc.VolumeAttachFailed):
        def bad(why):
            return exc_cls(volume_id=volume_id,
                           reason='invalid connection_info: %s' % why)
        if multipath and data.get('target_portals'):
            portals = vscsi.as_list(data.get('target_portals'))
            iqns = vscsi.as_list(data.get('target_iqns'))
            luns = vscsi.as_list(data.get('target_luns'))
        else:
            portals = vscsi.as_list(data.get('target_portal'))
            iqns = vscsi.as_list(data.get('target_iqn'))
            luns = vscsi.as_list(data.get('target_lun'))
        if not portals or not all(portals):
            raise bad('no target_portal')
        if not iqns or not all(iqns):
            raise bad('no target_iqn')
        if len(iqns) == 1:
            iqns = iqns * len(portals)
        if len(luns) == 1:
            luns = luns * len(portals)
        if len(iqns) != len(portals) or len(luns) != len(portals):
            raise bad('target portals, IQNs and LUNs do not match')
        luns = vscsi.int_luns(luns, bad)
        for portal in portals:
            host, _sep, port = str(portal).rpartition(':')
            if not host or not port.isdigit():
                raise bad('target portal %r is not host:port' % portal)
        self.portals, self.iqns, self.luns = portals, iqns, luns
        self.multipath = len(portals) > 1
        method = data.get('auth_method')
        if method and method.upper() != 'CHAP':
            raise bad('authentication method %r is not CHAP' % method)
        self.auth = method.upper() if method else None
        self.user = data.get('auth_username')
        self.password = data.get('auth_password')
        if self.auth and not (self.user and self.password):
            raise bad('CHAP needs auth_username and auth_password')
        d_method = data.get('discovery_auth_method')
        self.discovery = {
            'discovery_auth': d_method.upper() if d_method else None,
            'discovery_username': data.get('discovery_auth_username'),
            'discovery_password': data.get('discovery_auth_password')}

    def arg(self, values):
        """One value, or the list when there are several paths."""
        return list(values) if self.multipath else values[0]


def _reason(exc):
    """A sentence for a failed iSCSI job (pypowervm names the code)."""
    match = re.search(r'Return code: (\d+)', str(exc))
    status = match.group(1) if match else None
    if status in _REASONS:
        return '%s (iSCSI status %s)' % (_REASONS[status], status)
    return str(exc)


class IscsiVolumeAdapter(vscsi.VscsiVolumeAdapter):
    """Logs the VIOSes in to an iSCSI target and maps the LUN (vSCSI)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # {vios_uuid: reason} of VIOSes where discovery failed (message).
        self._failures = {}

    @classmethod
    def vol_type(cls):
        return 'iscsi'

    @classmethod
    def can_live_migrate(cls):
        # Not built: the target's VIOSes would have to log in first.
        return False

    @classmethod
    def get_connector_properties(cls, adapter, host_uuid, instance):
        iqn = initiator(adapter, host_uuid)
        return {'initiator': iqn} if iqn else {}

    def _targets(self, exc_cls=nova_exc.VolumeAttachFailed):
        return ISCSITargets(self.volume_id, self._data,
                            CONF.powervm.volume_use_multipath,
                            exc_cls=exc_cls)

    def _discover(self, vios_w, targets):
        """(dev_name, udid, status) of the LUN on this VIOS, or None.

        A VIOS that found no device logs out again (nothing stays logged
        in for a failed attach).
        """
        try:
            dev_name, udid = tsk_hdisk.discover_iscsi(
                self.adapter, targets.arg(targets.portals), targets.user,
                targets.password, targets.arg(targets.iqns), vios_w.uuid,
                lunid=targets.arg(targets.luns),
                iface_name=CONF.powervm.iscsi_iface, auth=targets.auth,
                multipath=targets.multipath, **targets.discovery)
        except pvm_exc.Error as exc:
            reason = _reason(exc)
            self._failures[vios_w.uuid] = reason
            LOG.warning('iSCSI login of volume %(vol)s on VIOS %(vios)s '
                        'failed: %(why)s', {'vol': self.volume_id,
                                            'vios': vios_w.name,
                                            'why': reason})
            self._logout(vios_w.uuid, targets)
            return None
        return dev_name, udid, _SUCCESS

    def _logout(self, vios_uuid, targets, quiet=True):
        """Remove the LUN's hdisk and unneeded sessions on one VIOS."""
        try:
            tsk_hdisk.remove_iscsi(
                self.adapter, targets.arg(targets.iqns), vios_uuid,
                iface_name=CONF.powervm.iscsi_iface,
                lun=targets.arg(targets.luns),
                portal=targets.arg(targets.portals),
                multipath=targets.multipath)
        except pvm_exc.Error as exc:
            if not quiet:
                raise
            LOG.warning('iSCSI logout of volume %(vol)s on VIOS %(vios)s '
                        'failed: %(exc)s', {'vol': self.volume_id,
                                            'vios': vios_uuid, 'exc': exc})

    def _remove_device(self, vios_uuid, dev_name):
        self._logout(vios_uuid, self._targets(nova_exc.VolumeDetachFailed),
                     quiet=False)

    def connect_volume(self):
        self._failures = {}
        try:
            super().connect_volume()
        except nova_exc.VolumeAttachFailed as exc:
            if not self._failures:
                raise
            # The iSCSI reasons first: nova's fault keeps 255 characters.
            raise nova_exc.VolumeAttachFailed(
                volume_id=self.volume_id, reason='%s; %s' % (
                    '; '.join(sorted(set(self._failures.values()))),
                    exc.kwargs.get('reason')))
