"""Slot maps: the client adapter slots of an instance's partition.

A rebuilt or evacuated partition asks for the client slot numbers its
network adapters (CNAs, incl. the RMC management one) and virtual SCSI
storage (boot disk, vSCSI volumes) had, so the guest finds its devices where
they were.  pypowervm's slot-map support does the bookkeeping:
``SlotMapStore`` records the topology, ``RebuildSlotMap`` turns a saved one
into the slots (and LUAs) to request on the host that recreates the
partition.  Config drive media are not kept (pypowervm refuses them in a
rebuild; the drive is made again) and neither are NPIV adapters (next free
slots).

Where the maps are kept is ``[powervm] slot_map_store``: ``local`` (files
in ``slot_map_dir``, which an evacuation target must see too) or ``none``.
The map is written after spawn and after every network or volume change
(:func:`record`, from the wrappers the operation's flow holds: no request),
used while a rebuild spawns (:func:`rebuilding`) and deleted when nothing
will read it again: the instance is deleted or shelve-offloaded
(:func:`forget`), or it left the host for good, a confirmed migration or
a live migration (:func:`left`; only the map this host saved: in a shared
directory the target's map stays, and a live migration's target takes the
map over, :func:`adopt`).
"""
import base64
import contextlib
import json
import os
import tempfile
import threading

from nova.compute import task_states
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.tasks import slot_map as pvm_slot
from pypowervm.wrappers import network as pvm_net
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import scsi_maps

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

_VSCSI_CLASSES = (pvm_slot.IOCLASS.PV, pvm_slot.IOCLASS.LU,
                  pvm_slot.IOCLASS.VDISK)
_VNET_CLASSES = (pvm_slot.IOCLASS.CNA, pvm_slot.IOCLASS.VNIC)
# Rebuild plans of the partitions being recreated, by instance UUID.
_PLANS = {}


def enabled():
    return CONF.powervm.slot_map_store.lower() == 'local'


class LocalSlotMapStore(pvm_slot.SlotMapStore):
    """A slot map kept in ``[powervm] slot_map_dir/<instance uuid>``.

    The file is JSON: ``map`` (pypowervm's serialized topology, base64, as
    ``SlotMapStore`` loads it), ``boot`` (UDIDs of the boot disk then) and
    ``host`` (UUID of the managed system that saved it).  Written
    atomically (temporary file and rename), mode 0600.
    """

    def __init__(self, inst_key, load=True, vswitch_names=None):
        self.boot_udids = []
        self.owner = None
        self._vswitch_names = vswitch_names
        super().__init__(inst_key, load=load)

    @staticmethod
    def path(key):
        return os.path.join(CONF.powervm.slot_map_dir, key)

    def _load(self, key):
        try:
            with open(self.path(key)) as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        self.boot_udids = data.get('boot', [])
        self.owner = data.get('host')
        return data['map']

    def _save(self, key, blob):
        os.makedirs(CONF.powervm.slot_map_dir, mode=0o700, exist_ok=True)
        data = {'map': base64.b64encode(blob).decode('ascii'),
                'boot': sorted(self.boot_udids), 'host': self.owner}
        fd, tmp = tempfile.mkstemp(dir=CONF.powervm.slot_map_dir,
                                   prefix='.%s.' % key)
        try:
            with os.fdopen(fd, 'w') as f:
                json.dump(data, f)
            os.replace(tmp, self.path(key))
        except Exception:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _delete(self, key):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def _vswitch_id2name(self, adap):
        # pypowervm reads the managed system and the vswitch feed for this
        # on every new store; the driver caches the feed (pinned in
        # test_slot_map).  Asked only when a CNA is registered.
        if callable(self._vswitch_names):
            self._vswitch_names = self._vswitch_names()
        if self._vswitch_names is not None:
            return self._vswitch_names
        return super()._vswitch_id2name(adap)

    def save_as(self, owner):
        """Write the map again as ``owner``'s (its topology unchanged)."""
        self.owner = owner
        self._save(self.inst_key, self.serialized)

    def keep(self, other, io_classes):
        """Take ``other``'s entries of ``io_classes`` (I/O not changed)."""
        for slot, io in other.topology.items():
            for io_class in io_classes:
                for key, spec in io.get(io_class, {}).items():
                    self._reg_slot(io_class, key, slot, extra_spec=spec)


def record(adapter, instance, is_boot_disk, vswitch_names, cnas=None,
           vioses=None, owner=None):
    """Save the partition's client slots as the instance's map (no request).

    From the wrappers the operation already holds: ``cnas`` (all the
    partition's client network adapters) and ``vioses`` (VIOS wrappers with
    their SCSI mappings) as the operation left them.  What is not given did
    not change and is kept from the saved map (a partition spawned without
    slot maps gets its map piece by piece).  A failure is logged, not
    raised: the instance works, only a later rebuild would pick the next
    free slots.

    :param is_boot_disk: predicate on a storage element: the boot disk.
    :param vswitch_names: callable giving {vswitch ID: name} (cached).
    :param owner: UUID of this host's managed system (saved with the map).
    """
    if not enabled() or (cnas is None and vioses is None):
        return
    try:
        old = None
        if cnas is None or vioses is None:
            old = LocalSlotMapStore(instance.uuid)
        store = LocalSlotMapStore(instance.uuid, load=False,
                                  vswitch_names=vswitch_names)
        store.owner = owner
        if cnas is None:
            store.keep(old, _VNET_CLASSES)
        else:
            for cna in cnas:
                store.register_vnet(cna)
        if vioses is None:
            store.keep(old, _VSCSI_CLASSES)
            store.boot_udids = list(old.boot_udids)
        else:
            _register_vscsi(store, vioses, ids.pvm_uuid(instance),
                            is_boot_disk)
        store.save()
    except Exception as e:
        # The operation itself succeeded; only a later rebuild would lose
        # the slots.
        LOG.warning('Could not save the slot map of the instance: %s', e,
                    instance=instance, exc_info=True)


def _register_vscsi(store, vioses, lpar_uuid, is_boot_disk):
    for vios_w in vioses:
        for smap in scsi_maps.find_maps(vios_w, lpar_uuid):
            stg = smap.backing_storage
            if stg is None or isinstance(stg, pvm_stg.VOptMedia):
                continue
            store.register_vscsi_mapping(smap)
            if is_boot_disk(stg) and stg.udid not in store.boot_udids:
                store.boot_udids.append(stg.udid)


def forget(instance):
    """Delete the instance's slot map (deleted or shelve-offloaded)."""
    if not enabled():
        return
    try:
        LocalSlotMapStore(instance.uuid, load=False).delete()
    except OSError as e:
        LOG.warning('Could not delete the slot map of the instance: %s', e,
                    instance=instance)


def left(instance, owner):
    """The instance left this host for good: delete the map it saved here.

    A map another host saved (``slot_map_dir`` shared with the target) is
    the instance's current one and stays; a map without an owner (saved
    before owners were recorded) is this host's.
    """
    if not enabled():
        return
    try:
        saved = LocalSlotMapStore(instance.uuid).owner
    except (OSError, ValueError, LookupError) as e:
        LOG.warning('Could not read the slot map of the instance: %s', e,
                    instance=instance)
        return
    if saved is None or saved == owner:
        forget(instance)


def saved_by(instance, owner):
    """Whether ``owner`` saved the instance's map (one without an owner,
    saved before owners were recorded, counts as anyone's).  False when
    there is none or it cannot be read.
    """
    try:
        store = LocalSlotMapStore(instance.uuid)
    except (OSError, ValueError, LookupError) as e:
        LOG.warning('Could not read the slot map of the instance: %s', e,
                    instance=instance)
        return False
    return bool(store.topology) and store.owner in (None, owner)


def adopt(instance, owner):
    """A live migration's target sees the map (a shared ``slot_map_dir``):
    it becomes the target's (LPM keeps the client slots), so the source's
    :func:`left` keeps it.
    """
    if not enabled():
        return
    try:
        store = LocalSlotMapStore(instance.uuid)
        if store.topology and store.owner != owner:
            store.save_as(owner)
    except (OSError, ValueError, LookupError) as e:
        LOG.warning('Could not take over the slot map of the instance: %s',
                    e, instance=instance)


class _Plan(object):
    """Slots to request while a partition is recreated."""

    def __init__(self, store, rebuild_map):
        self.boot_udids = store.boot_udids
        self.map = rebuild_map
        self._saved_slots = set(store.topology)
        self._extra = {}
        self._lock = threading.Lock()

    def vscsi(self, vios_w, udid, boot=False):
        slot, lua = self.map.get_vscsi_slot(vios_w, udid)
        if slot is None and boot:
            # Same-host rebuild: a new boot disk (new UDID) goes where the
            # old one was.
            for old in self.boot_udids:
                slot, lua = self.map.get_vscsi_slot(vios_w, old)
                if slot is not None:
                    break
        if slot is None and boot and self._saved_slots:
            # A boot VIOS the map gives no slot (the saved map holds fewer
            # paths than there are VIOSes now).  The next free slot could be
            # one the plan gives another VIOS, whose mapping may be posted
            # later (409 slot in use): ask for one above every saved slot.
            with self._lock:
                slot = self._extra.get(vios_w.uuid)
                if slot is None:
                    slot = 1 + max(self._saved_slots |
                                   set(self._extra.values()))
                    self._extra[vios_w.uuid] = slot
        if slot is not None:
            LOG.info('Rebuild: storage %(udid)s goes into client slot '
                     '%(slot)s through VIOS %(vios)s (slot map).',
                     {'udid': udid, 'slot': slot, 'vios': vios_w.name})
        return slot, lua


def _plan(adapter, instance, boot_vioses):
    """The rebuild plan from the saved map (None without one)."""
    store = LocalSlotMapStore(instance.uuid)
    topo = store.topology
    if not topo:
        LOG.info('No slot map saved; the partition gets the next free '
                 'slots.', instance=instance)
        return None
    vioses = pvm_par.get_active_vioses(adapter, xag=[])
    udids = {udid for io in topo.values() for cls in _VSCSI_CLASSES
             for udid in io.get(cls, {})}
    # The boot disk goes through the disk driver's VIOSes; every VIOS may
    # serve a volume (FC LUNs are on the fabric): one that does not see it
    # maps it into the next free slot.
    every = [v.uuid for v in vioses]
    vol_to_vio = {udid: list(boot_vioses) if udid in store.boot_udids
                  else every for udid in udids}
    return _Plan(store, pvm_slot.RebuildSlotMap(store, vioses, vol_to_vio,
                                                []))


@contextlib.contextmanager
def rebuilding(adapter, instance, boot_vioses=()):
    """Context of a spawn: a rebuild requests the saved slots.

    :param boot_vioses: UUIDs of the VIOSes the boot disk is mapped by.

    The plan applies while nova rebuilds (task state rebuild_spawning, on
    the same host or an evacuation target).  The caller saves the map
    again after a successful spawn (:func:`record`).
    """
    plan = None
    if enabled() and instance.task_state == task_states.REBUILD_SPAWNING:
        try:
            plan = _plan(adapter, instance, boot_vioses)
        except (pvm_exc.Error, OSError, ValueError, LookupError) as e:
            LOG.warning('The slot map cannot be applied on this host (%s); '
                        'the partition gets the next free slots.', e,
                        instance=instance)
    if plan is not None:
        _PLANS[instance.uuid] = plan
    try:
        yield plan
    finally:
        _PLANS.pop(instance.uuid, None)


def place_cna(instance, cna):
    """The CNA to create: ``cna``, or one in its saved slot (rebuild).

    A client CNA is found by MAC; the RMC management CNA (built without a
    MAC) gets its saved slot and MAC.
    """
    plan = _PLANS.get(instance.uuid)
    if plan is None:
        return cna
    if cna.mac:
        mac, slot = cna.mac, plan.map.get_vnet_slot(cna.mac)
    else:
        mac, slot = plan.map.get_mgmt_vea_slot()
    if slot is None:
        return cna
    return pvm_net.CNA.bld(cna.adapter, cna.pvid, cna.vswitch_uri,
                           slot_num=slot, mac_addr=mac)


def vscsi_slot(instance, vios_w, udid, boot=False):
    """(client slot, LUA) to map storage ``udid`` with; (None, None): any."""
    plan = _PLANS.get(instance.uuid)
    if plan is None:
        return None, None
    return plan.vscsi(vios_w, udid, boot=boot)
