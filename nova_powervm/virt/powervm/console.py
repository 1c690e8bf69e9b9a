"""VNC consoles through the partition's virtual terminal.

On NovaLink the virtual terminal is opened by a local command (``mkvterm
--vnc --local``, run by pypowervm), which serves it as VNC on a localhost
port.  pypowervm's remotable listener makes it reachable on
``[vnc] server_proxyclient_address``: one port for every console, the
partition chosen by the path nova's proxy sends first (``CONNECT <path>
HTTP/1.1``), which is the partition's UUID.  A terminal an operator opened
without VNC is closed so that the console can be served (pypowervm's
``force``): otherwise nova would hand out a console that never connects.
"""
from nova.console import type as console_type
from nova import exception as nova_exc
from oslo_log import log as logging
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import vterm as pvm_vterm

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import pvm_private

LOG = logging.getLogger(__name__)
CONF = cfg.CONF


def _x509_kwargs():
    opts = CONF.powervm
    if not opts.vnc_use_x509_auth:
        return {'use_x509_auth': False}
    return {'use_x509_auth': True, 'ca_certs': opts.vnc_ca_certs,
            'server_cert': opts.vnc_server_cert,
            'server_key': opts.vnc_server_key}


def check_x509_options():
    """Refuse vnc_use_x509_auth without its three files.

    :raises VncX509Incomplete: naming the missing options.
    """
    opts = CONF.powervm
    if not opts.vnc_use_x509_auth:
        return
    missing = [name for name in ('vnc_ca_certs', 'vnc_server_cert',
                                 'vnc_server_key')
               if not getattr(opts, name)]
    if missing:
        raise exc.VncX509Incomplete(options=', '.join(missing))
    pvm_private.verify_vnc_clients()


def open_vnc(adapter, instance):
    """Open (or reuse) the VNC console of the instance's partition.

    The first REST request reads the partition's id: a missing partition
    fails there, before any terminal is opened.

    :return: nova's ConsoleVNC (host, port, partition UUID as the path).
    :raises InstanceNotFound: the instance has no partition.
    :raises ConsoleTypeUnavailable: the REST API is not local (the
        terminal command runs on the NovaLink partition only).
    :raises VncConsoleFailed: the terminal command or a request failed.
    """
    check_x509_options()
    lpar_uuid = ids.pvm_uuid(instance)
    host = CONF.vnc.server_proxyclient_address
    if pvm_private.revive_vnc_listener():
        LOG.warning('The VNC console listener had stopped; starting a new '
                    'one.')
    try:
        port = pvm_vterm.open_remotable_vnc_vterm(
            adapter, lpar_uuid, host, vnc_path=lpar_uuid, force=True,
            **_x509_kwargs())
    except pvm_exc.ConsoleNotLocal:
        raise nova_exc.ConsoleTypeUnavailable(console_type='vnc')
    except pvm_exc.HttpError as e:
        if e.response is not None and e.response.status == 404:
            raise nova_exc.InstanceNotFound(instance_id=instance.uuid)
        raise exc.VncConsoleFailed(instance=instance.name, reason=str(e))
    except pvm_exc.Error as e:
        raise exc.VncConsoleFailed(instance=instance.name, reason=str(e))
    LOG.info('VNC console of the partition served on %(host)s:%(port)s.',
             {'host': host, 'port': port}, instance=instance)
    return console_type.ConsoleVNC(host=host, port=port,
                                   internal_access_path=lpar_uuid)


def close(adapter, instance):
    """Close the partition's terminal and its VNC console (best effort)."""
    forget(ids.pvm_uuid(instance))
    try:
        pvm_vterm.close_vterm(adapter, ids.pvm_uuid(instance))
    except Exception:
        LOG.warning('Closing the console of the partition failed.',
                    instance=instance, exc_info=True)


def forget(lpar_uuid):
    """No console connects to the partition any more.

    For a deleted partition: a proxy still holding its console token gets
    refused instead of stopping the listener every console shares.
    """
    pvm_private.forget_vnc_path(lpar_uuid)
