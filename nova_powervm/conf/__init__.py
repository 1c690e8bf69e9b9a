"""Configuration for nova-powervm: the ``[powervm]`` section of nova.conf."""
from oslo_config import cfg

from nova_powervm.conf import powervm

CONF = cfg.CONF
powervm.register_opts(CONF)
