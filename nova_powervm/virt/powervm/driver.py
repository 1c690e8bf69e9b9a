"""PowerVMDriver: the nova compute driver for IBM PowerVM.

This module stays lean: it holds nova's ComputeDriver entry points and
delegates to TaskFlow flows (``tasks/``) and to the logic modules (``vm``,
``host``, ``vif``, ``media``, ``disk/``, ``volume/``).
"""
from nova.virt import driver
from oslo_log import log as logging

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import session as pvm_session

LOG = logging.getLogger(__name__)
CONF = cfg.CONF


class PowerVMDriver(driver.ComputeDriver):
    """PowerVM implementation of nova's ComputeDriver."""

    # nova's defaults are all False; only what is implemented is turned on.
    capabilities = dict(driver.ComputeDriver.capabilities,
                        supports_image_type_raw=True)

    def __init__(self, virtapi):
        super().__init__(virtapi)
        self.adapter = None
        self.host_wrapper = None
        self.host_uuid = None

    def init_host(self, host):
        """Connect to the REST API and read the managed system.

        :raises RestServerUnreachable, RestAuthenticationFailed: with the
            host and port, after ``[powervm] conn_tries`` attempts.
        """
        self.adapter = pvm_session.build_adapter()
        self.host_wrapper = pvm_session.get_host_wrapper(self.adapter)
        self.host_uuid = self.host_wrapper.uuid
        LOG.info('PowerVM driver connected to managed system %(name)s '
                 '(%(uuid)s).', {'name': self.host_wrapper.system_name,
                                 'uuid': self.host_uuid})
