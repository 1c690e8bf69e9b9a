"""Exceptions raised by the PowerVM driver.

Each derives from a nova exception so nova records a meaningful instance
fault; messages name what failed.
"""
from nova import exception as nova_exc

from nova_powervm.i18n import _


class RestServerUnreachable(nova_exc.HypervisorUnavailable):
    msg_fmt = _('Unable to reach the PowerVM REST API server at '
                '%(host)s:%(port)s after %(tries)d attempt(s): %(reason)s')


class RestAuthenticationFailed(nova_exc.HypervisorUnavailable):
    msg_fmt = _('The PowerVM REST API server at %(host)s:%(port)s rejected '
                'the credentials of user %(user)s (HTTP %(status)s).')


class ManagedSystemNotFound(nova_exc.HypervisorUnavailable):
    msg_fmt = _('The PowerVM REST API server at %(host)s:%(port)s reports '
                'no managed system.')
