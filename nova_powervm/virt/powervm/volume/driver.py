"""The interface every Cinder volume connector implements.

The compute driver picks the Fibre Channel connector from
``[powervm] fc_attach_strategy`` through :func:`build_volume_driver`.
"""
import abc

from oslo_utils import importutils

from nova_powervm import conf as cfg

CONF = cfg.CONF

FC_STRATEGY_MAPPING = {
    'vscsi': 'nova_powervm.virt.powervm.volume.vscsi.VscsiVolumeAdapter',
    'npiv': 'nova_powervm.virt.powervm.volume.npiv.NPIVVolumeAdapter',
}


def volume_driver_class(connection_info):
    """The connector class for a Cinder ``connection_info``."""
    if connection_info.get('driver_volume_type') != 'fibre_channel':
        from nova import exception as nova_exc
        raise nova_exc.VolumeDriverNotFound(
            driver_type=connection_info.get('driver_volume_type'))
    strategy = CONF.powervm.fc_attach_strategy.lower()
    return importutils.import_class(FC_STRATEGY_MAPPING[strategy])


def build_volume_driver(adapter, host_uuid, instance, connection_info,
                        stg_ftsk=None):
    """Instantiate the connector for ``connection_info``."""
    cls = volume_driver_class(connection_info)
    return cls(adapter, host_uuid, instance, connection_info,
               stg_ftsk=stg_ftsk)


class VolumeAdapter(metaclass=abc.ABCMeta):
    """Connects one Cinder volume to one instance's partition."""

    def __init__(self, adapter, host_uuid, instance, connection_info,
                 stg_ftsk=None):
        self.adapter = adapter
        self.host_uuid = host_uuid
        self.instance = instance
        self.connection_info = connection_info
        self.volume_id = connection_info.get('data', {}).get('volume_id')
        self.stg_ftsk = stg_ftsk

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
        return False

    @classmethod
    def min_vios_count(cls):
        """Active VIOSes needed for the connector to work at all."""
        return 1

    @classmethod
    @abc.abstractmethod
    def get_connector_properties(cls, adapter, host_uuid, instance):
        """What Cinder needs to export the volume to this host.

        E.g. ``wwpns``, ``host``, ``multipath``.
        """

    @abc.abstractmethod
    def connect_volume(self):
        """Make the volume visible to the partition; revert on failure."""

    @abc.abstractmethod
    def disconnect_volume(self):
        """Remove the volume from the partition (idempotent)."""

    def extend_volume(self):
        """Let the partition see the volume's new size."""
        raise NotImplementedError()
