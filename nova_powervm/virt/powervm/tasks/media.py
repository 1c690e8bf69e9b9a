"""TaskFlow tasks for the config drive (thin; see media.py)."""
from oslo_log import log as logging

from nova_powervm.virt.powervm import media
from nova_powervm.virt.powervm.tasks import base as tf_base

LOG = logging.getLogger(__name__)


class CreateAndConnectCfgDrive(tf_base.Task):
    """Build, upload and map (through stg_ftsk) the config drive.

    Uses 'mgmt_cna' when the flow provides it.  Revert removes the media and
    its mapping.
    """

    def __init__(self, adapter, instance, injected_files, network_info,
                 stg_ftsk, admin_pass=None):
        super().__init__(name='cfg_drive')
        self.adapter = adapter
        self.instance = instance
        self.injected_files = injected_files
        self.network_info = network_info
        self.stg_ftsk = stg_ftsk
        self.admin_pass = admin_pass
        self.created = False

    def execute(self, mgmt_cna=None):
        media.create_cfg_drive(self.adapter, self.instance,
                               self.injected_files, self.network_info,
                               stg_ftsk=self.stg_ftsk,
                               admin_pass=self.admin_pass, mgmt_cna=mgmt_cna)
        self.created = True

    def revert(self, result, flow_failures, **kwargs):
        if not self.created:
            # create_cfg_drive removes its own partial upload.
            return
        LOG.warning('Removing the config drive after a failed operation.',
                    instance=self.instance)
        try:
            media.delete_cfg_drive(self.adapter, self.instance)
        except Exception:
            LOG.exception('The config drive media could not be removed.',
                          instance=self.instance)
        self.created = False


class DeleteVOpt(tf_base.Task):
    """Remove the config drive's mapping and media.  Idempotent.

    With stg_ftsk the unmapping is queued on it and the media is deleted
    after it runs.
    """

    def __init__(self, adapter, instance, stg_ftsk=None):
        super().__init__(name='vopt_delete')
        self.adapter = adapter
        self.instance = instance
        self.stg_ftsk = stg_ftsk

    def execute(self):
        media.delete_cfg_drive(self.adapter, self.instance,
                               stg_ftsk=self.stg_ftsk)
