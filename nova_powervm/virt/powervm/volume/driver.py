"""The interface every Cinder volume connector implements.

:func:`build_volume_driver` picks the connector by Cinder's
``driver_volume_type``: Fibre Channel as ``[powervm] fc_attach_strategy``
says (vSCSI or NPIV), ``iscsi``, file I/O (``local``, ``nfs``, ``gpfs``) and
``rbd``.

A connector never POSTs a VIOS on its own when the caller gives it a
``stg_ftsk`` (a pypowervm FeedTask over the active VIOSes): it queues
subtasks on it (and post-execute tasks for work that must follow the
update), so every VIOS mapping change of a flow is one etag-safe update per
VIOS.  Without a ``stg_ftsk`` it builds and runs its own.
"""
import abc

from nova import exception as nova_exc
from oslo_log import log as logging
from oslo_utils import importutils
from oslo_utils import uuidutils
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import partition as pvm_par
from pypowervm.utils import transaction as pvm_tx
from taskflow import exceptions as tf_exc

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import ids

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

FC_STRATEGY_MAPPING = {
    'vscsi': 'nova_powervm.virt.powervm.volume.vscsi.VscsiVolumeAdapter',
    'npiv': 'nova_powervm.virt.powervm.volume.npiv.NPIVVolumeAdapter',
}

FC_TYPES = ('fibre_channel', 'fc')

# Other Cinder connection types -> connector class.
TYPE_MAPPING = {
    'iscsi': 'nova_powervm.virt.powervm.volume.iscsi.IscsiVolumeAdapter',
    'local': 'nova_powervm.virt.powervm.volume.fileio.FileIOVolumeAdapter',
    'nfs': 'nova_powervm.virt.powervm.volume.fileio.FileIOVolumeAdapter',
    'gpfs': 'nova_powervm.virt.powervm.volume.fileio.FileIOVolumeAdapter',
    'rbd': 'nova_powervm.virt.powervm.volume.rbd.RBDVolumeAdapter',
}


def fc_adapter_class():
    """The Fibre Channel connector class chosen by fc_attach_strategy."""
    strategy = CONF.powervm.fc_attach_strategy.lower()
    return importutils.import_class(FC_STRATEGY_MAPPING[strategy])


def volume_driver_class(connection_info):
    """The connector class for a Cinder ``connection_info``.

    :raises VolumeDriverNotFound: for a volume type no connector handles.
    """
    vtype = (connection_info or {}).get('driver_volume_type')
    if vtype in FC_TYPES:
        return fc_adapter_class()
    if vtype in TYPE_MAPPING:
        return importutils.import_class(TYPE_MAPPING[vtype])
    raise nova_exc.VolumeDriverNotFound(driver_type=vtype)


def build_volume_driver(adapter, host_uuid, instance, connection_info,
                        stg_ftsk=None):
    """Instantiate the connector for ``connection_info``."""
    cls = volume_driver_class(connection_info)
    return cls(adapter, host_uuid, instance, connection_info,
               stg_ftsk=stg_ftsk)


def error_text(exc):
    """A short sentence for a failed REST change, the API's reason first.

    An HTTP error the REST API explained reads ``<its message> (HTTP
    <status> on <method> <resource type>)``: nova keeps 255 characters of
    a fault, too few for pypowervm's text with the full path before the
    reason.  Anything else: ``str(exc)``.
    """
    if isinstance(exc, tf_exc.WrappedFailure):
        return '; '.join(error_text(f.exception) if f.exception else
                         f.exception_str for f in exc)
    her = getattr(exc, 'her_wrap', None)
    resp = getattr(exc, 'response', None)
    if (not isinstance(exc, pvm_exc.HttpError) or her is None or
            not her.message or resp is None):
        return str(exc)
    path = (resp.reqpath or '').split('?')[0]
    names = [p for p in path.split('/')
             if p and not uuidutils.is_uuid_like(p)]
    return '%s (HTTP %s on %s %s)' % (her.message, resp.status,
                                      resp.reqmethod,
                                      names[-1] if names else path)


def _classes():
    return [fc_adapter_class()] + [importutils.import_class(path) for path
                                   in sorted(set(TYPE_MAPPING.values()))]


def connector_properties(adapter, host_uuid, instance):
    """The connector entries of every volume type.

    ``wwpns`` (Fibre Channel) and ``initiator`` (iSCSI).
    """
    props = {}
    for cls in _classes():
        props.update(cls.get_connector_properties(adapter, host_uuid,
                                                  instance))
    return props


def lpm_vscsi_key(udid):
    """``vol_data`` key: target VIOS IDs that discovered hdisk ``udid``."""
    return 'vscsi:%s' % udid


def lpm_vfc_key(wwpn):
    """``vol_data`` key: 'VIOS ID/port name' for a client FC adapter's
    first WWPN.
    """
    return 'vfc:%s' % str(wwpn).lower().replace(':', '')


def all_min_xags():
    """VIOS xags every connector needs (for a shared feed)."""
    return sorted({x for cls in _classes() for x in cls.min_xags()})


class VolumeAdapter(metaclass=abc.ABCMeta):
    """Connects one Cinder volume to one instance's partition.

    ``connect_volume``/``disconnect_volume``/``extend_volume`` queue their
    VIOS changes on ``stg_ftsk`` when given one (the caller executes it);
    otherwise they run their own transaction before returning.
    ``revert_connect`` undoes a ``connect_volume`` in a transaction of its
    own (used by TaskFlow reverts, after a shared ``stg_ftsk`` has run).

    ``last_volume`` (NPIV) tells ``disconnect_volume`` that no other volume
    of the instance uses the instance's virtual FC adapters any more, so they
    can go too.
    """

    def __init__(self, adapter, host_uuid, instance, connection_info,
                 stg_ftsk=None):
        self.adapter = adapter
        self.host_uuid = host_uuid
        self.instance = instance
        self.connection_info = connection_info
        data = connection_info.get('data') or {}
        self.volume_id = (data.get('volume_id') or
                          connection_info.get('serial'))
        self.stg_ftsk = stg_ftsk
        self.last_volume = True
        # The FeedTask a connect/disconnect built and ran itself.
        self._own_ftsk = None

    @property
    def vm_uuid(self):
        """PowerVM UUID of the instance's partition."""
        return ids.pvm_uuid(self.instance)

    @classmethod
    def min_xags(cls):
        """VIOS extended attribute groups the connector needs."""
        return []

    @classmethod
    def vol_type(cls):
        """Short name of the connector (e.g. 'vscsi')."""
        raise NotImplementedError()

    @classmethod
    def can_live_migrate(cls):
        """Whether a volume attached this way can follow a live migration."""
        return False

    @classmethod
    def min_vios_count(cls):
        """Active VIOSes needed for the connector to work at all."""
        return 1

    @classmethod
    @abc.abstractmethod
    def get_connector_properties(cls, adapter, host_uuid, instance):
        """Connector entries this connector contributes (``wwpns``...)."""

    @abc.abstractmethod
    def connect_volume(self):
        """Make the volume visible to the partition.

        :raises VolumeAttachFailed: naming the volume and the reason; nothing
            is left mapped when it is raised.
        """

    @abc.abstractmethod
    def disconnect_volume(self):
        """Remove the volume from the partition (idempotent)."""

    @abc.abstractmethod
    def revert_connect(self):
        """Undo ``connect_volume`` in an own transaction (never raises)."""

    def vios_wrappers(self):
        """The VIOSes as this connector's own transaction left them.

        With their SCSI mappings (no request); None when it queued on the
        caller's ``stg_ftsk`` or reads no SCSI mappings (NPIV).
        """
        if (self._own_ftsk is None or
                pvm_const.XAG.VIO_SMAP not in self.min_xags()):
            return None
        return list(self._own_ftsk.feed)

    def extend_volume(self):
        """Let the partition see the volume's new size."""
        raise NotImplementedError()

    # Live migration (``live_migration.py``); ``vol_data`` is a dict of
    # strings the target's connectors fill for the source.

    def pre_live_migration_on_destination(self, vol_data):
        """On the target: make the volume reachable, note where in
        ``vol_data``.

        :raises VolumeAttachFailed: the target cannot reach the volume
            (nothing left behind).
        """

    def post_live_migration_at_destination(self):
        """On the target once the partition arrived."""

    def post_live_migration_at_source(self):
        """On the source once the partition left."""

    def check_paths(self):
        """Why this host cannot reach the volume (None: it can, or this
        connector cannot tell); leaves the host as it was.
        """
        return None

    # Helpers for implementations.

    def _feed_task(self, name, exc_cls=nova_exc.VolumeAttachFailed):
        """The FeedTask to queue on and whether this call must run it.

        Attaches need ``min_vios_count()`` active VIOSes; anything else
        (detach, revert, extend) works with what is active.
        """
        if self.stg_ftsk is not None:
            return self.stg_ftsk, False
        self._own_ftsk = self._own_feed_task(name, exc_cls)
        return self._own_ftsk, True

    def _run_connect(self, ftsk, what):
        """Run an attach's own FeedTask; on failure undo and raise.

        :param what: what the mappings are, for the error message.
        """
        try:
            ftsk.execute()
        except Exception as exc:
            self.revert_connect()
            raise nova_exc.VolumeAttachFailed(
                volume_id=self.volume_id,
                reason='%s failed: %s' % (what, error_text(exc)))

    def _own_feed_task(self, name, exc_cls=nova_exc.VolumeAttachFailed):
        """A FeedTask over the active VIOSes (one GET with min_xags)."""
        need = (self.min_vios_count()
                if exc_cls is nova_exc.VolumeAttachFailed else 1)
        try:
            vioses = pvm_par.get_active_vioses(
                self.adapter, xag=self.min_xags(), find_min=need)
        except (pvm_exc.NotEnoughActiveVioses, pvm_exc.Error) as exc:
            raise exc_cls(volume_id=self.volume_id,
                          reason='reading the Virtual I/O Servers failed: '
                                 '%s' % exc)
        return pvm_tx.FeedTask('%s_%s' % (name, self.volume_id), vioses)
