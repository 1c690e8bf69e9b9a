"""TaskFlow tasks around Cinder volume connectors (thin wrappers).

Connectors queue their VIOS changes on the flow's ``stg_ftsk`` when they
have one; the FeedTask then runs later in the same flow.
"""
from oslo_log import log as logging

from nova_powervm.virt.powervm.tasks import base as tf_base

LOG = logging.getLogger(__name__)


class AttachVolume(tf_base.Task):
    """Connect a volume; the revert disconnects it again."""

    def __init__(self, vol_drv):
        self.vol_drv = vol_drv
        super().__init__(name='attach_vol_%s' % vol_drv.volume_id)

    def execute(self):
        self.vol_drv.connect_volume()

    def revert(self, result, flow_failures):
        LOG.warning('Undoing the attach of volume %s.',
                    self.vol_drv.volume_id)
        self.vol_drv.revert_connect()


class DetachVolume(tf_base.Task):
    """Disconnect a volume; the revert connects it back.

    A detach that fails part-way leaves the volume attached (as nova and
    Cinder still see it), not half-mapped.
    """

    def __init__(self, vol_drv):
        self.vol_drv = vol_drv
        super().__init__(name='detach_vol_%s' % vol_drv.volume_id)

    def execute(self):
        self.vol_drv.disconnect_volume()

    def revert(self, result, flow_failures):
        LOG.warning('Detach of volume %s failed; connecting it back.',
                    self.vol_drv.volume_id)
        self.vol_drv.stg_ftsk = None
        try:
            self.vol_drv.connect_volume()
        except Exception:
            LOG.exception('Re-connecting volume %s failed.',
                          self.vol_drv.volume_id)


class ExtendVolume(tf_base.Task):
    """Make the partition see a grown volume (a rescan: nothing to undo)."""

    def __init__(self, vol_drv):
        self.vol_drv = vol_drv
        super().__init__(name='extend_vol_%s' % vol_drv.volume_id)

    def execute(self):
        self.vol_drv.extend_volume()


class SaveBDM(tf_base.Task):
    """Persist the connection_info a connector updated (boot from volume).

    ``attach_volume`` gets its connection_info saved by nova; at spawn the
    driver saves the block device mapping itself.
    """

    def __init__(self, bdm, instance):
        self.bdm = bdm
        self.instance = instance
        super().__init__(name='save_bdm_%s' % bdm.get('volume_id'))

    def execute(self):
        self.bdm.save()
