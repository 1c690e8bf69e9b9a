"""Connection to the PowerVM REST API, built from ``[powervm]`` options."""
import datetime
import ipaddress
import re
import ssl

from cryptography import x509
from oslo_log import log as logging
from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.helpers import log_helper
from pypowervm.helpers import vios_busy
from pypowervm.wrappers import managed_system as pvm_ms

from nova_powervm import conf as cfg
from nova_powervm.i18n import _
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import http_conn
from nova_powervm.virt.powervm import http_reuse
from nova_powervm.virt.powervm import job_templates

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

_DEFAULT_PORTS = {'http': 12080, 'https': 12443}


def endpoint():
    """(host, protocol, port) as pypowervm will use them."""
    opts = CONF.powervm
    protocol = opts.protocol
    if protocol is None:
        protocol = 'http' if opts.password is None else 'https'
    protocol = protocol.lower()
    return opts.host, protocol, opts.port or _DEFAULT_PORTS[protocol]


def build_adapter():
    """Log on to the REST API server and return a pypowervm Adapter.

    :raises RestServerUnreachable: the server could not be reached after
        ``conn_tries`` attempts.
    :raises RestAuthenticationFailed: the server refused the credentials.
    """
    opts = CONF.powervm
    host, protocol, port = endpoint()
    if protocol == 'http' and opts.password is not None and \
            not _is_loopback(host):
        LOG.warning('[powervm] protocol = http with a password for REST API '
                    'server %(host)s:%(port)s, which is not this machine: '
                    'the password and every session token travel over the '
                    'network IN CLEAR TEXT.  Use protocol = https (or '
                    'NovaLink\'s local file-based authentication on '
                    'localhost).', {'host': host, 'port': port})
    LOG.info('Connecting to the PowerVM REST API at %(proto)s://%(host)s:'
             '%(port)s as %(user)s (%(auth)s authentication).',
             {'proto': protocol, 'host': host, 'port': port,
              'user': opts.username or '<local>',
              'auth': 'file' if opts.password is None else 'password'})
    http_reuse.install()   # one HTTP connection for many requests
    try:
        session = VerifiedSession(
            host=host, username=opts.username, password=opts.password,
            protocol=protocol, port=port, certpath=opts.certpath or None,
            conn_tries=opts.conn_tries, timeout=opts.rest_timeout)
    except pvm_exc.ConnectionError as e:
        raise exc.RestServerUnreachable(
            host=host, port=port, tries=opts.conn_tries,
            reason=_short_reason(e))
    except pvm_exc.SSLError as e:
        raise exc.RestServerUntrusted(host=host, port=port,
                                      reason=_short_reason(e))
    except pvm_exc.HttpError as e:
        status = e.response.status if e.response is not None else '?'
        if status in (401, 403):
            raise exc.RestAuthenticationFailed(
                host=host, port=port, user=opts.username, status=status)
        raise exc.RestServerUnreachable(
            host=host, port=port, tries=opts.conn_tries,
            reason='HTTP %s' % status)
    except pvm_exc.Error as e:
        # After a successful logon pypowervm refuses only one thing: local
        # (file-based) authentication answered by an HMC.
        raise exc.NotNovaLink(host=host, port=port, reason=_short_reason(e))
    return pvm_adpt.Adapter(
        session, helpers=[job_templates.cache_helper(),
                          log_helper.log_helper,
                          vios_busy.vios_busy_retry_helper])


class VerifiedSession(pvm_adpt.Session):
    """pypowervm's Session with every https request verified.

    pypowervm checks the server's certificate for the logon only and sends
    every later request unverified, so any new connection (after an idle
    close or an error) would carry the session token to whoever answers;
    and its pinned-certificate check (``util.validate_certificate``)
    raises ``OSError`` on Python 3 whenever the file exists.  Here, for
    https with a ``certpath``, every request (logon included) is verified
    on each new connection: if ``<certpath><host><certext>`` (the file
    pypowervm looks for) holds a certificate, the server must present
    exactly that one (:class:`http_conn.Pin`: by content, no CA or host
    name check, as pypowervm's pin); otherwise by the CA bundle and the
    host name.  The file is read at each logon, and a pinned certificate
    that is expired or not yet valid then refuses the logon (as pypowervm
    refused an expired one).  http, or an empty ``certpath`` (checks
    disabled by the operator), is left as it is.
    """

    _verify = False   # set by each logon

    def __init__(self, host='localhost', certpath='/etc/ssl/certs/',
                 certext='.crt', **kwargs):
        self._pin_file = certpath and '%s%s%s' % (
            certpath, re.sub('[:.]', '_', host), certext)
        # pypowervm's own check off: this class does it.
        super().__init__(host=host, certpath=None, certext=certext,
                         **kwargs)

    def request(self, method, path, headers=None, body='', sensitive=False,
                verify=False, timeout=-1, auditmemento=None, relogin=True,
                login=False, filehandle=None, chunksize=65536):
        if self.protocol != 'http' and self._pin_file:
            if login:
                self._verify = self._pin()
            if verify is False:
                verify = self._verify
        return super().request(
            method, path, headers=headers, body=body, sensitive=sensitive,
            verify=verify, timeout=timeout, auditmemento=auditmemento,
            relogin=relogin, login=login, filehandle=filehandle,
            chunksize=chunksize)

    def _pin(self):
        """A Pin of the pinned certificate, else True (CA and host name).

        :raises pypowervm.exceptions.SSLError: the pinned certificate is
            expired or not yet valid.
        """
        try:
            with open(self._pin_file) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            cert = x509.load_der_x509_certificate(der)
        except FileNotFoundError:
            pin = None
        except (OSError, ValueError) as e:
            LOG.warning('Pinned certificate %(path)s unusable (%(err)s).',
                        {'path': self._pin_file, 'err': e})
            pin = None
        else:
            self._check_validity(cert)
            pin = http_conn.Pin(der)
        LOG.info('Every connection to %(dest)s must present %(how)s.',
                 {'dest': self.dest, 'how': 'a certificate the CA bundle '
                  'trusts, for that host name' if pin is None else
                  'the certificate pinned in %s (SHA-256 %s)' %
                  (self._pin_file, pin.fingerprint)})
        return True if pin is None else pin

    def _check_validity(self, cert):
        """Raise SSLError unless the pinned certificate is valid now."""
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if start <= now <= end:
            return
        params = {'path': self._pin_file, 'host': self.host,
                  'start': start.isoformat(), 'end': end.isoformat(),
                  'now': now.isoformat(timespec='seconds')}
        if now > end:
            msg = _('the certificate pinned in %(path)s for %(host)s expired '
                    'on %(end)s (valid from %(start)s; now %(now)s)') % params
        else:
            msg = _('the certificate pinned in %(path)s for %(host)s is not '
                    'valid before %(start)s (valid until %(end)s; now '
                    '%(now)s)') % params
        raise pvm_exc.SSLError(msg)


def _is_loopback(host):
    """Whether ``host`` names this machine (no name resolution)."""
    if host.lower() in ('localhost', 'localhost.localdomain'):
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def _short_reason(error):
    """The innermost message of a connection error, without a traceback."""
    text = str(error)
    return text.splitlines()[-1][:300] if text else error.__class__.__name__


def get_host_wrapper(adapter):
    """Read the (single) managed system this driver manages."""
    systems = pvm_ms.System.get(adapter)
    if not systems:
        host, _proto, port = endpoint()
        raise exc.ManagedSystemNotFound(host=host, port=port)
    return systems[0]
