"""NPIV Fibre Channel connector.

The partition gets its own virtual FC ports (one WWPN pair each, generated
by the managed system) mapped through the VIOSes' physical ports; the SAN
zones and masks the LUN straight to those WWPNs.

Per fabric (``[powervm] fabrics``, physical ports from
``fabric_<X>_port_wwpns``, empty meaning every port) the instance gets
``ports_per_fabric`` virtual ports.  The port maps are kept in the
instance's system_metadata under ``npiv_adpt_wwpns_<X>`` as
``"<phys wwpn> <virt wwpn 1> <virt wwpn 2>,..."`` so that a reboot, rebuild
or re-attach reuses the same WWPNs (the SAN zoning stays valid).  The
virtual FC adapters are shared by all the instance's volumes: a detach
removes them only with the last volume (``last_volume``).
"""
from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.tasks import vfc_mapper as tsk_vfc
from pypowervm import util as pvm_util

from nova_powervm import conf as cfg
from nova_powervm.conf import powervm as pvm_conf
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm.volume import driver as v_driver

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

META_KEY = 'npiv_adpt_wwpns_%s'
_XAGS = [pvm_const.XAG.VIO_FMAP, pvm_const.XAG.VIO_STOR]


def fabric_names():
    """Configured fabric names (registers their port options)."""
    pvm_conf.register_fabric_opts(CONF)
    return pvm_conf.fabric_names(CONF)


def fabric_ports(fabric, vios_wraps):
    """Physical port WWPNs of a fabric (all ports when unset)."""
    value = CONF.powervm.get('fabric_%s_port_wwpns' % fabric) or ''
    ports = [pvm_util.sanitize_wwpn_for_api(p) for p in value.split(',')
             if p.strip()]
    if ports:
        return ports
    return [pvm_util.sanitize_wwpn_for_api(p.wwpn)
            for v in vios_wraps for p in v.pfc_ports if p.wwpn]


def get_port_maps(instance, fabric):
    """Stored port maps of a fabric: [(phys_wwpn, 'virt1 virt2'), ...]."""
    raw = (instance.system_metadata or {}).get(META_KEY % fabric) or ''
    maps = []
    for item in raw.split(','):
        parts = item.split()
        if len(parts) == 3:
            maps.append((parts[0], '%s %s' % (parts[1], parts[2])))
    return maps


def set_port_maps(instance, fabric, maps):
    instance.system_metadata[META_KEY % fabric] = ','.join(
        '%s %s' % (p, v) for p, v in maps)


def _existing_maps(vios_wraps, lpar_uuid, ports):
    """Port maps the partition already has on these physical ports."""
    found = []
    for vios_w in vios_wraps:
        for vmap in tsk_vfc.find_maps(vios_w.vfc_mappings, lpar_uuid):
            if (vmap.backing_port is None or vmap.client_adapter is None or
                    len(vmap.client_adapter.wwpns) != 2):
                continue
            p_wwpn = vmap.backing_port.wwpn or next(
                (p.wwpn for p in vios_w.pfc_ports
                 if p.name == vmap.backing_port.name), None)
            if p_wwpn and pvm_util.sanitize_wwpn_for_api(p_wwpn) in ports:
                p_wwpn = pvm_util.sanitize_wwpn_for_api(p_wwpn)
                found.append((p_wwpn, ' '.join(
                    pvm_util.sanitize_wwpn_for_api(w)
                    for w in vmap.client_adapter.wwpns)))
    return found


def ensure_port_maps(adapter, host_uuid, instance, vios_wraps=None):
    """{fabric: port maps} of the instance, creating what is missing.

    Order of preference: the maps stored in system_metadata, the partition's
    existing virtual FC mappings, then new WWPN pairs from the managed
    system placed on the fabric's physical ports.  New maps are saved to the
    instance.

    :raises InvalidConfiguration: when a fabric has no usable physical port.
    """
    result = {}
    missing = []
    for fabric in fabric_names():
        maps = get_port_maps(instance, fabric)
        if maps:
            result[fabric] = maps
        else:
            missing.append(fabric)
    if not missing:
        return result
    if vios_wraps is None:
        vios_wraps = pvm_par.get_active_vioses(adapter, xag=_XAGS,
                                               find_min=1)
    lpar_uuid = ids.pvm_uuid(instance)
    for fabric in missing:
        ports = fabric_ports(fabric, vios_wraps)
        maps = _existing_maps(vios_wraps, lpar_uuid, ports)
        if not maps:
            try:
                v_wwpns = tsk_vfc.build_wwpn_pair(
                    adapter, host_uuid,
                    pair_count=CONF.powervm.ports_per_fabric)
                maps = tsk_vfc.derive_npiv_map(vios_wraps, ports, v_wwpns)
            except pvm_exc.UnableToFindFCPortMap:
                maps = []
        if not maps:
            raise nova_exc.InvalidConfiguration(
                'NPIV fabric %s: none of its physical FC ports (%s) is on '
                'an active Virtual I/O Server; check [powervm] '
                'fabric_%s_port_wwpns.' % (fabric, ','.join(ports) or
                                          'none found', fabric))
        set_port_maps(instance, fabric, maps)
        result[fabric] = maps
    instance.save()
    return result


def _add_vfc_map(vios_w, host_uuid, lpar_uuid, pmap, added):
    """Subtask: add one virtual FC mapping (idempotent)."""
    vmap = tsk_vfc.add_map(vios_w, host_uuid, lpar_uuid, pmap)
    if vmap is not None:
        added.add((vios_w.uuid, pmap))
    return vmap is not None


def _remove_vfc_map(vios_w, lpar_uuid, pmap):
    """Subtask: remove one virtual FC mapping (idempotent)."""
    return bool(tsk_vfc.remove_maps(vios_w, lpar_uuid, port_map=pmap))


class NPIVVolumeAdapter(v_driver.VolumeAdapter):
    """Gives the partition virtual FC ports on every configured fabric."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (vios_uuid, port_map) added by connect_volume (for the revert).
        self._added = set()

    @classmethod
    def vol_type(cls):
        return 'npiv'

    @classmethod
    def min_xags(cls):
        return list(_XAGS)

    @classmethod
    def can_live_migrate(cls):
        return True

    @classmethod
    def get_connector_properties(cls, adapter, host_uuid, instance):
        maps = ensure_port_maps(adapter, host_uuid, instance)
        wwpns = []
        for fabric in sorted(maps):
            for _p_wwpn, fused in maps[fabric]:
                wwpns.extend(w.lower() for w in fused.split())
        return {'wwpns': wwpns}

    @classmethod
    def check_host_paths(cls, adapter):
        """Why this host cannot carry the instance's virtual FC ports.

        Each fabric needs a physical port (``fabric_<X>_port_wwpns``, or
        any) with a free virtual port on an active VIOS.  One GET.
        """
        try:
            vioses = pvm_par.get_active_vioses(adapter, xag=_XAGS,
                                               find_min=1)
        except pvm_exc.Error as exc:
            return 'NPIV: %s' % exc
        missing = []
        for fabric in fabric_names():
            ports = set(fabric_ports(fabric, vioses))
            if not any(p.wwpn and p.npiv_available_ports and
                       pvm_util.sanitize_wwpn_for_api(p.wwpn) in ports
                       for v in vioses for p in v.pfc_ports):
                missing.append(fabric)
        if not missing:
            return None
        return ('no physical FC port of NPIV fabric(s) %s with a free '
                'virtual port on an active Virtual I/O Server' %
                ', '.join(missing))

    def _place(self, feed, fabric, maps):
        """[(vios_w, port_map)] of a fabric.

        Maps whose physical port is no longer on an active VIOS move to
        another port of the fabric, keeping their WWPNs.
        """
        placed, lost = [], []
        for pmap in maps:
            vios_w = tsk_vfc.find_vios_for_port_map(feed, pmap)
            if vios_w is None:
                lost.append(pmap)
            else:
                placed.append((vios_w, pmap))
        if lost:
            v_wwpns = [w for _p, fused in lost for w in fused.split()]
            try:
                new = tsk_vfc.derive_npiv_map(
                    feed, fabric_ports(fabric, feed), v_wwpns,
                    preserve=False)
            except pvm_exc.UnableToFindFCPortMap:
                new = []
            for pmap in new:
                vios_w = tsk_vfc.find_vios_for_wwpn(feed, pmap[0])[0]
                if vios_w is not None:
                    placed.append((vios_w, pmap))
            set_port_maps(self.instance, fabric, [m for _v, m in placed])
            self.instance.save()
        return placed

    def connect_volume(self):
        ftsk, run_now = self._feed_task('attach_npiv')
        try:
            maps = ensure_port_maps(self.adapter, self.host_uuid,
                                    self.instance, vios_wraps=ftsk.feed)
        except nova_exc.InvalidConfiguration as exc:
            raise nova_exc.VolumeAttachFailed(volume_id=self.volume_id,
                                              reason=str(exc))
        for fabric, fmaps in sorted(maps.items()):
            placed = self._place(ftsk.feed, fabric, fmaps)
            if not placed:
                raise nova_exc.VolumeAttachFailed(
                    volume_id=self.volume_id,
                    reason='no physical port of NPIV fabric %s is on an '
                           'active Virtual I/O Server' % fabric)
            for vios_w, pmap in placed:
                ftsk.wrapper_tasks[vios_w.uuid].add_functor_subtask(
                    _add_vfc_map, self.host_uuid, self.vm_uuid, pmap,
                    self._added,
                    logspec=[LOG.info, 'Mapping virtual FC %s to physical '
                             'port %s on VIOS %s', pmap[1], pmap[0],
                             vios_w.uuid])
        if run_now:
            self._run_connect(ftsk, 'adding the virtual FC mappings')

    def _queue_removal(self, ftsk, pmaps_by_vios=None):
        queued = 0
        for vios_w in ftsk.feed:
            if pmaps_by_vios is None:
                pmaps = [m for f in fabric_names()
                         for m in get_port_maps(self.instance, f)]
            else:
                pmaps = pmaps_by_vios.get(vios_w.uuid, [])
            for pmap in pmaps:
                if tsk_vfc.find_maps(vios_w.vfc_mappings, self.vm_uuid,
                                     port_map=pmap):
                    ftsk.wrapper_tasks[vios_w.uuid].add_functor_subtask(
                        _remove_vfc_map, self.vm_uuid, pmap,
                        logspec=[LOG.info, 'Removing virtual FC %s from '
                                 'VIOS %s', pmap[1], vios_w.uuid])
                    queued += 1
        return queued

    def disconnect_volume(self):
        if not self.last_volume:
            LOG.info('Volume %s detached; the virtual FC adapters stay for '
                     'the instance\'s other volumes.', self.volume_id)
            return
        ftsk, run_now = self._feed_task('detach_npiv',
                                        nova_exc.VolumeDetachFailed)
        if self._queue_removal(ftsk) and run_now:
            try:
                ftsk.execute()
            except Exception as exc:
                raise nova_exc.VolumeDetachFailed(volume_id=self.volume_id,
                                                  reason=str(exc))

    def revert_connect(self):
        if not self._added:
            return
        by_vios = {}
        for vios_uuid, pmap in self._added:
            by_vios.setdefault(vios_uuid, []).append(pmap)
        try:
            ftsk = self._own_feed_task('revert_npiv',
                                       nova_exc.VolumeDetachFailed)
            if self._queue_removal(ftsk, by_vios):
                ftsk.execute()
            self._added = set()
        except Exception:
            LOG.exception('Removing the virtual FC mappings of volume %s '
                          'after a failed attach failed.', self.volume_id)

    def pre_live_migration_on_destination(self, vol_data):
        """Place each client adapter's WWPN pair on a port here.

        Notes 'VIOS ID/port name' per adapter (keyed by its first WWPN);
        the target logs in to the fabric with the pair's second WWPN.
        """
        vioses = pvm_par.get_active_vioses(self.adapter, xag=_XAGS,
                                           find_min=1)
        for fabric in fabric_names():
            maps = get_port_maps(self.instance, fabric)
            v_wwpns = [w for _p, fused in maps for w in fused.split()]
            try:
                new = tsk_vfc.derive_npiv_map(
                    vioses, fabric_ports(fabric, vioses), v_wwpns,
                    preserve=False) if v_wwpns else []
            except pvm_exc.UnableToFindFCPortMap:
                new = []
            if len(new) < len(maps):
                raise nova_exc.VolumeAttachFailed(
                    volume_id=self.volume_id,
                    reason='NPIV fabric %s: %d of the instance\'s %d '
                           'virtual FC adapters have a physical port on an '
                           'active Virtual I/O Server here' %
                           (fabric, len(new), len(maps)))
            for p_wwpn, fused in new:
                vios_w, port = tsk_vfc.find_vios_for_wwpn(vioses, p_wwpn)
                vol_data[v_driver.lpm_vfc_key(fused.split()[0])] = (
                    '%d/%s' % (vios_w.id, port.name))

    def post_live_migration_at_destination(self):
        """Record the physical ports the adapters use here."""
        vioses = pvm_par.get_active_vioses(self.adapter, xag=_XAGS)
        changed = False
        for fabric in fabric_names():
            maps = _existing_maps(vioses, self.vm_uuid,
                                  fabric_ports(fabric, vioses))
            if maps and maps != get_port_maps(self.instance, fabric):
                set_port_maps(self.instance, fabric, maps)
                changed = True
        if changed:
            self.instance.save()

    def extend_volume(self):
        # The partition's own FC stack sees the LUN: nothing on the VIOS.
        LOG.info('Volume %s extended; the instance rescans its NPIV '
                 'disks itself.', self.volume_id)
