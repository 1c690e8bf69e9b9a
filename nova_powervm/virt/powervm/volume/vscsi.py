"""vSCSI Fibre Channel connector.

The Virtual I/O Servers log in to the SAN with their physical FC ports; each
VIOS that reaches the LUN discovers it as an hdisk (pypowervm's LUARecovery
job) and maps the hdisk to the partition over virtual SCSI.
"""
from concurrent import futures
import time

from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.tasks import partition as pvm_par
from pypowervm.wrappers import storage as pvm_stor
from pypowervm.wrappers import virtual_io_server as pvm_vios
from taskflow import task as tf_task

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import scsi_maps
from nova_powervm.virt.powervm import slot_map
from nova_powervm.virt.powervm.volume import driver as v_driver

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# Key in connection_info['data'] recording the hdisk's UDID (same key as the
# earlier drivers, so volumes they attached detach cleanly).
UDID_KEY = 'target_UDID'

# Physical FC port WWPNs per managed system: {host_uuid: (expiry, wwpns)}.
_PFC_CACHE = {}
_PFC_CACHE_TTL = 300


def _wwpn(value):
    """A WWPN in one comparable form (lower-case hex, no colons)."""
    return str(value).lower().replace(':', '')


def as_list(value):
    """A connection_info value that may be one item or a list, as a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]


def int_luns(luns, bad):
    """Cinder's LUN ids as non-negative integers.

    :param bad: bad(why) gives the exception to raise otherwise.
    """
    try:
        luns = [int(lun) for lun in luns]
    except (TypeError, ValueError):
        raise bad('target_lun %r is not an integer' % (luns,))
    if any(lun < 0 for lun in luns):
        raise bad('negative target_lun')
    return luns


def vios_port_wwpns(vios_w):
    """WWPNs of a VIOS's physical FC ports (comparable form)."""
    return [_wwpn(p.wwpn) for p in vios_w.pfc_ports if p.wwpn]


def physical_wwpns(adapter, host_uuid):
    """WWPNs of all physical FC ports of the VIOSes (cached 5 minutes)."""
    now = time.monotonic()
    cached = _PFC_CACHE.get(host_uuid)
    if cached and cached[0] > now and cached[1]:
        return list(cached[1])
    vioses = pvm_vios.VIOS.get(adapter, xag=[pvm_const.XAG.VIO_STOR])
    wwpns = []
    for vios_w in vioses:
        wwpns.extend(w for w in vios_port_wwpns(vios_w) if w not in wwpns)
    _PFC_CACHE[host_uuid] = (now + _PFC_CACHE_TTL, wwpns)
    return list(wwpns)


class FCTargets(object):
    """The SAN side of a Cinder Fibre Channel ``connection_info``."""

    def __init__(self, volume_id, data, exc_cls=nova_exc.VolumeAttachFailed):
        def bad(why):
            return exc_cls(volume_id=volume_id,
                           reason='invalid connection_info: %s' % why)
        targets = [_wwpn(t) for t in as_list(
            data.get('target_wwns') or data.get('target_wwn'))]
        if not targets:
            raise bad('no target_wwn')
        for t in targets:
            if len(t) != 16 or any(c not in '0123456789abcdef' for c in t):
                raise bad('target WWPN %r is not 16 hex digits' % t)
        luns = as_list(data.get('target_luns') or data.get('target_lun'))
        if len(luns) == 1:
            luns = luns * len(targets)
        if not luns or len(luns) != len(targets):
            raise bad('target_lun missing or not one per target WWPN')
        luns = int_luns(luns, bad)
        self.lun_by_target = dict(zip(targets, luns))
        itmap = data.get('initiator_target_map') or None
        self.itmap = None
        if itmap:
            self.itmap = {_wwpn(i): [_wwpn(t) for t in as_list(ts)]
                          for i, ts in itmap.items()}
        self.device_id = data.get('pg83NAA')

    def itls(self, i_wwpns):
        """ITLs from these initiator WWPNs to the volume's targets."""
        itls = []
        for i_wwpn in i_wwpns:
            if self.itmap is None:
                t_wwpns = list(self.lun_by_target)
            else:
                t_wwpns = self.itmap.get(i_wwpn, [])
            for t_wwpn in t_wwpns:
                lun = self.lun_by_target.get(t_wwpn)
                if lun is None:
                    # A target only in the initiator map: the LUN is the
                    # same on every target.
                    luns = set(self.lun_by_target.values())
                    if len(luns) != 1:
                        continue
                    lun = luns.pop()
                itls.append(tsk_hdisk.ITL(i_wwpn, t_wwpn, lun))
        return itls


def _pv_matcher(udid, dev_name=None):
    def match(stg):
        return isinstance(stg, pvm_stor.PV) and (
            (udid and stg.udid == udid) or
            (dev_name is not None and stg.name == dev_name))
    return match


def _add_mapping(vios_w, lpar_uuid, dev_name, udid, slot=None, inst=None):
    """Subtask: map hdisk ``dev_name`` to the partition (idempotent).

    :param slot: the partition's client slot (None: the server picks one,
        or, while ``inst`` is rebuilt, its saved slot).
    """
    lua = None
    if slot is None and inst is not None:
        slot, lua = slot_map.vscsi_slot(inst, vios_w, udid)
    pv = pvm_stor.PV.bld(vios_w.adapter, dev_name, udid=udid)
    return scsi_maps.map_storage(vios_w, lpar_uuid, pv, lpar_slot_num=slot,
                                 lua=lua) is not None


def _remove_mapping(vios_w, lpar_uuid, udid, dev_name):
    """Subtask: unmap the hdisk from the partition (idempotent)."""
    return bool(scsi_maps.remove_maps(vios_w, lpar_uuid,
                                      match_func=_pv_matcher(udid, dev_name)))


def _hdisk_mapped(vios_w, udid, dev_name):
    """Whether any partition still maps the hdisk on this VIOS."""
    return bool(scsi_maps.storage_maps(vios_w, (udid, dev_name),
                                       _pv_matcher(udid, dev_name)))


class RemoveUnusedHdisks(tf_task.Task):
    """Post-execute of a VIOS FeedTask: delete hdisks nothing maps now."""

    def __init__(self, remove, volume_id, hdisks, seen_wrappers):
        """:param remove: remove(vios_uuid, dev_name) deletes one hdisk.
        :param hdisks: {vios_uuid: (dev_name, udid)}
        :param seen_wrappers: {vios_uuid: VIOS wrapper read before the
            FeedTask ran} (used when the FeedTask did not update a VIOS).
        """
        super().__init__(name='rm_hdisks_%s' % volume_id,
                         requires=['wrapper_task_rets'])
        self.remove = remove
        self.volume_id = volume_id
        self.hdisks = hdisks
        self.seen = seen_wrappers

    def execute(self, wrapper_task_rets):
        failed = []
        for vios_uuid, (dev_name, udid) in self.hdisks.items():
            vios_w = ((wrapper_task_rets or {}).get(vios_uuid) or {}).get(
                'wrapper') or self.seen.get(vios_uuid)
            if vios_w is None or _hdisk_mapped(vios_w, udid, dev_name):
                LOG.info('hdisk %(dev)s of volume %(vol)s is still mapped '
                         'on VIOS %(vios)s; not removing it.',
                         {'dev': dev_name, 'vol': self.volume_id,
                          'vios': vios_uuid})
                continue
            try:
                self.remove(vios_uuid, dev_name)
            except pvm_exc.Error as exc:
                LOG.warning('Removing hdisk %(dev)s of volume %(vol)s from '
                            'VIOS %(vios)s failed: %(exc)s',
                            {'dev': dev_name, 'vol': self.volume_id,
                             'vios': vios_uuid, 'exc': exc})
                failed.append('%s on VIOS %s (%s)' % (dev_name, vios_uuid,
                                                       exc))
        if failed:
            raise nova_exc.VolumeDetachFailed(
                volume_id=self.volume_id,
                reason='could not remove hdisk(s) %s' % ', '.join(failed))


class VscsiVolumeAdapter(v_driver.VolumeAdapter):
    """Maps a SAN LUN to the partition through the VIOSes (vSCSI)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # {vios_uuid: (dev_name, udid, status)} found by connect_volume.
        self._discovered = {}
        # {vios_uuid: client slot} of mappings a disconnect removed: a
        # connect that reverts it maps the volume back into the same slot.
        self._unmapped_slots = {}

    @classmethod
    def vol_type(cls):
        return 'vscsi'

    @classmethod
    def min_xags(cls):
        return [pvm_const.XAG.VIO_SMAP, pvm_const.XAG.VIO_STOR]

    @classmethod
    def can_live_migrate(cls):
        return True

    @classmethod
    def min_vios_count(cls):
        return CONF.powervm.vscsi_vios_connections_required

    @classmethod
    def get_connector_properties(cls, adapter, host_uuid, instance):
        return {'wwpns': physical_wwpns(adapter, host_uuid)}

    @property
    def _data(self):
        return self.connection_info.setdefault('data', {})

    @property
    def udid(self):
        return self._data.get(UDID_KEY)

    def _targets(self, exc_cls=nova_exc.VolumeAttachFailed):
        """The storage side of ``connection_info`` (validated)."""
        return FCTargets(self.volume_id, self._data, exc_cls=exc_cls)

    def _remove_device(self, vios_uuid, dev_name):
        """Delete the volume's hdisk from one VIOS."""
        tsk_hdisk.remove_hdisk(self.adapter, '', dev_name, vios_uuid)

    def _discover(self, vios_w, targets):
        """(dev_name, udid, status) of the LUN on this VIOS, or None."""
        itls = targets.itls(vios_port_wwpns(vios_w))
        if not itls:
            return None
        try:
            status, dev_name, udid = tsk_hdisk.discover_hdisk(
                self.adapter, vios_w.uuid, itls,
                device_id=targets.device_id)
        except pvm_exc.Error as exc:
            LOG.warning('hdisk discovery of volume %(vol)s on VIOS %(vios)s '
                        'failed: %(exc)s', {'vol': self.volume_id,
                                            'vios': vios_w.name, 'exc': exc})
            return None
        if not tsk_hdisk.good_discovery(status, dev_name):
            LOG.info('Volume %(vol)s not found on VIOS %(vios)s (LUA status '
                     '%(st)s).', {'vol': self.volume_id, 'vios': vios_w.name,
                                  'st': status})
            return None
        return dev_name, udid, status

    def _discover_all(self, feed, targets):
        """{vios_uuid: (dev_name, udid, status)}; the VIOSes' discovery
        jobs run in parallel (each takes seconds on a real VIOS).
        """
        feed = list(feed)
        if len(feed) == 1:
            results = [self._discover(feed[0], targets)]
        else:
            with futures.ThreadPoolExecutor(len(feed)) as pool:
                results = list(pool.map(
                    lambda v: self._discover(v, targets), feed))
        return {v.uuid: res for v, res in zip(feed, results) if res}

    def _discover_required(self, feed, targets):
        """Discover the hdisk on each VIOS; record its UDID.

        :raises VolumeAttachFailed: found on fewer VIOSes than
            ``vscsi_vios_connections_required`` (those removed again).
        """
        found = self._discover_all(feed, targets)
        self._discovered.update(found)
        need = CONF.powervm.vscsi_vios_connections_required
        if len(found) < need:
            self._cleanup_discovered(feed)
            raise nova_exc.VolumeAttachFailed(
                volume_id=self.volume_id,
                reason='the volume was found on %d Virtual I/O Server(s), '
                       '%d required by vscsi_vios_connections_required'
                       % (len(found), need))
        udids = {res[1] for res in found.values() if res[1]}
        if udids:
            self._data[UDID_KEY] = sorted(udids)[0]
        return found

    def connect_volume(self):
        targets = self._targets()
        ftsk, run_now = self._feed_task('attach_%s' % self.vol_type())
        found = self._discover_required(ftsk.feed, targets)
        for vios_uuid, (dev_name, udid, _st) in found.items():
            ftsk.wrapper_tasks[vios_uuid].add_functor_subtask(
                _add_mapping, self.vm_uuid, dev_name, udid or self.udid,
                slot=self._unmapped_slots.get(vios_uuid), inst=self.instance,
                logspec=[LOG.info, 'Mapping hdisk %s of volume %s on VIOS %s',
                         dev_name, self.volume_id, vios_uuid])
        if run_now:
            self._run_connect(ftsk, 'mapping the hdisk')

    def check_paths(self):
        """Discover the LUN on every active VIOS (a migration's target).

        The hdisks the probe discovered are removed again (one that was
        there before, or is mapped, stays).
        """
        try:
            targets = self._targets()
            feed = pvm_par.get_active_vioses(self.adapter,
                                             xag=self.min_xags())
        except (nova_exc.VolumeAttachFailed, pvm_exc.Error) as exc:
            return 'volume %s: %s' % (self.volume_id, exc)
        known = {v.uuid: {pv.udid for pv in v.phys_vols} for v in feed}
        found = self._discover_all(feed, targets)
        self._discovered = {u: r for u, r in found.items()
                            if r[1] not in known[u]}
        self._cleanup_discovered(feed)
        need = CONF.powervm.vscsi_vios_connections_required
        if len(found) >= need:
            return None
        return ('no path to volume %(vol)s (targets %(tgt)s): found on '
                '%(n)d of its Virtual I/O Servers, %(need)d required' %
                {'vol': self.volume_id, 'n': len(found), 'need': need,
                 'tgt': ', '.join(sorted(targets.lun_by_target))})

    def _cleanup_discovered(self, feed):
        """Remove hdisks this connect discovered that nothing maps."""
        by_uuid = {v.uuid: v for v in feed}
        for vios_uuid, (dev_name, udid, status) in self._discovered.items():
            vios_w = by_uuid.get(vios_uuid)
            if (status == tsk_hdisk.LUAStatus.DEVICE_IN_USE or
                    vios_w is None or _hdisk_mapped(vios_w, udid, dev_name)):
                continue
            try:
                self._remove_device(vios_uuid, dev_name)
            except pvm_exc.Error as exc:
                LOG.warning('Could not remove hdisk %(dev)s from VIOS '
                            '%(vios)s: %(exc)s', {'dev': dev_name,
                                                  'vios': vios_uuid,
                                                  'exc': exc})
        self._discovered = {}

    def _queue_unmap(self, ftsk, udid, extra=None):
        """Queue unmapping on ``ftsk`` and the hdisk removal after it.

        :return: {vios_uuid: (dev_name, udid)} of the hdisks handled.
        """
        hdisks = {}
        for vios_w in ftsk.feed:
            dev_name = None
            known = (extra or {}).get(vios_w.uuid, (None,))[0]
            maps = scsi_maps.find_maps(
                vios_w, self.vm_uuid, match_func=_pv_matcher(udid, known),
                include_orphans=True)
            if maps:
                dev_name = maps[0].backing_storage.name
            elif udid:
                for pv in vios_w.phys_vols:
                    if pv.udid == udid:
                        dev_name = pv.name
                        break
            dev_name = dev_name or known
            if dev_name is None:
                continue
            hdisks[vios_w.uuid] = (dev_name, udid)
            if maps and maps[0].client_adapter is not None:
                self._unmapped_slots[vios_w.uuid] = (
                    maps[0].client_adapter.lpar_slot_num)
            if maps:
                ftsk.wrapper_tasks[vios_w.uuid].add_functor_subtask(
                    _remove_mapping, self.vm_uuid, udid, dev_name,
                    logspec=[LOG.info, 'Unmapping hdisk %s of volume %s on '
                             'VIOS %s', dev_name, self.volume_id,
                             vios_w.uuid])
        if hdisks:
            ftsk.add_post_execute(RemoveUnusedHdisks(
                self._remove_device, self.volume_id, hdisks,
                {v.uuid: v for v in ftsk.feed}))
        return hdisks

    def _udid_by_discovery(self, feed):
        """The UDID of a volume attached without recording it."""
        try:
            targets = self._targets(nova_exc.VolumeDetachFailed)
        except nova_exc.VolumeDetachFailed as exc:
            LOG.warning('Cannot find the hdisk of volume %(vol)s: %(exc)s',
                        {'vol': self.volume_id, 'exc': exc})
            return None
        for vios_w in feed:
            res = self._discover(vios_w, targets)
            if res and res[1]:
                return res[1]
        return None

    def disconnect_volume(self):
        ftsk, run_now = self._feed_task('detach_vscsi',
                                        nova_exc.VolumeDetachFailed)
        udid = self.udid or self._udid_by_discovery(ftsk.feed)
        if not udid:
            LOG.warning('Volume %s has no hdisk on any VIOS; nothing to '
                        'detach.', self.volume_id)
            return
        self._queue_unmap(ftsk, udid)
        if run_now:
            try:
                ftsk.execute()
            except nova_exc.VolumeDetachFailed:
                raise
            except Exception as exc:
                raise nova_exc.VolumeDetachFailed(
                    volume_id=self.volume_id, reason=str(exc))

    def revert_connect(self):
        if not self._discovered:
            return
        try:
            ftsk = self._own_feed_task('revert_vscsi',
                                       nova_exc.VolumeDetachFailed)
            udid = self.udid or next(
                (r[1] for r in self._discovered.values() if r[1]), None)
            self._queue_unmap(ftsk, udid, extra=self._discovered)
            ftsk.execute()
            self._discovered = {}
        except Exception:
            LOG.exception('Cleaning up volume %s after a failed attach '
                          'failed.', self.volume_id)

    def pre_live_migration_on_destination(self, vol_data):
        """Discover the hdisk here; note which VIOSes (by ID) see it."""
        targets = self._targets()
        feed = self._own_feed_task('lpm_vscsi').feed
        found = self._discover_required(feed, targets)
        vios_ids = {v.uuid: v.id for v in feed}
        if self.udid:
            vol_data[v_driver.lpm_vscsi_key(self.udid)] = ','.join(
                sorted(str(vios_ids[u]) for u in found))

    def post_live_migration_at_source(self):
        """The mappings left with the partition; remove the hdisks."""
        self.disconnect_volume()

    def extend_volume(self):
        udid = self.udid
        if not udid:
            raise nova_exc.VolumeExtendFailed(
                volume_id=self.volume_id,
                reason='the volume has no recorded hdisk UDID')
        targets = self._targets(nova_exc.VolumeExtendFailed)
        ftsk = self._own_feed_task('extend_vscsi',
                                   nova_exc.VolumeExtendFailed)
        rescanned = 0
        for vios_w in ftsk.feed:
            if not scsi_maps.find_maps(vios_w, self.vm_uuid,
                                       match_func=_pv_matcher(udid)):
                continue
            # LUA recovery on a known device makes the VIOS re-read it
            # (capacity included).
            if self._discover(vios_w, targets) is None:
                raise nova_exc.VolumeExtendFailed(
                    volume_id=self.volume_id,
                    reason='rescan on VIOS %s failed' % vios_w.name)
            rescanned += 1
        if not rescanned:
            raise nova_exc.VolumeExtendFailed(
                volume_id=self.volume_id,
                reason='no VIOS maps the volume to the instance')
