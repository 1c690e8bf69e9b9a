"""Entry point for oslo-config-generator (namespace ``nova_powervm``)."""
from nova_powervm.conf import powervm


def list_opts():
    return powervm.list_opts()
