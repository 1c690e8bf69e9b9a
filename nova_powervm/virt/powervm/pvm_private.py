"""The pypowervm internals the driver still relies on, in one place.

Each section names the concern, why pypowervm's public API does not serve,
and the behaviour relied on; ``tests/virt/powervm/test_pvm_private.py`` pins
that behaviour, so a pypowervm upgrade that changes it fails a test, not a
host.  Other concerns add their own section here.
"""
import copy
import functools
import time

from lxml import etree
from oslo_log import log as logging
from oslo_utils import reflection
from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm import util as pvm_util

LOG = logging.getLogger(__name__)


# -- session renewal (image uploads) -----------------------------------------
#
# An upload's data stream cannot be re-sent: when the REST session expires
# while an upload runs, pypowervm logs on again and re-sends the request
# without its data, and the upload fails.  The caller retries such an
# upload, and only such a one, so it must know whether the session was
# renewed meanwhile.  pypowervm offers no public signal for a re-logon; the
# session's token (``Session._sessToken``, replaced by every logon) is it.

def session_identity(session):
    """An opaque value that changes whenever ``session`` logs on again.

    None when the session has no token (not logged on, or a pypowervm that
    no longer keeps one: then no renewal is ever detected, and an upload
    that failed is not retried).
    """
    return getattr(session, '_sessToken', None)


# -- VNC console listener (console.py) ---------------------------------------
#
# pypowervm serves every console of the process through one listener thread
# on port 5901 (``_REMOTE_PORT``), registered in
# ``_VNC_REMOTE_PORT_TO_LISTENER`` and never restarted.  That thread dies on
# the first connection it cannot forward (a path whose terminal was closed:
# the partition was deleted, or pypowervm closed an idle terminal), and
# from then on no console of the host connects.  pypowervm offers no public
# way to forget a path or to restart the listener, so the driver forgets the
# path of a deleted partition (the listener then answers 400) and drops a
# dead listener before opening a console (pypowervm then starts a new one).

def _vterm():
    from pypowervm.tasks import vterm
    return vterm


def vnc_remote_port():
    """The port pypowervm's console listener uses for path-based consoles."""
    return getattr(_vterm(), '_REMOTE_PORT', 5901)


def revive_vnc_listener():
    """Forget pypowervm's console listener if its thread has died.

    :return: True when a dead listener was dropped.
    """
    listeners = getattr(_vterm(), '_VNC_REMOTE_PORT_TO_LISTENER', None)
    if listeners is None:
        return False
    listener = listeners.get(vnc_remote_port())
    if listener is None or listener.is_alive():
        return False
    listeners.pop(vnc_remote_port(), None)
    return True


def forget_vnc_path(path):
    """Make pypowervm's listener refuse ``path`` (answer 400) from now on."""
    paths = getattr(_vterm(), '_VNC_PATH_TO_UUID', None)
    if paths is not None:
        paths.pop(path, None)


# -- VNC X509 (console.py) ---------------------------------------------------
#
# pypowervm's listener wraps a VeNCrypt client's socket with the module
# function ``ssl.wrap_socket(..., cert_reqs=CERT_REQUIRED)``.  Under eventlet
# (nova-compute's default concurrency mode) that function is eventlet's,
# which ORs ``cert_reqs`` into the context options instead of setting the
# verify mode: a client without a certificate is let in.  (The function is
# also gone in Python 3.12.)  The listener looks ``ssl`` up in its module at
# call time, so the driver gives that module an ``ssl`` whose wrap_socket
# builds a server context that requires and verifies client certificates.

class _VerifyingSsl(object):
    """The ``ssl`` module, but wrap_socket verifies client certificates."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def wrap_socket(self, sock, server_side=False, ca_certs=None,
                    certfile=None, keyfile=None, cert_reqs=None,
                    ssl_version=None, **kwargs):
        ssl = self._real
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side
                             else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if certfile:
            ctx.load_cert_chain(certfile, keyfile)
        if ca_certs:
            ctx.load_verify_locations(ca_certs)
        if not server_side:
            ctx.check_hostname = False
        ctx.verify_mode = (ssl.CERT_REQUIRED if cert_reqs is None
                           else cert_reqs)
        return ctx.wrap_socket(sock, server_side=server_side)


def verify_vnc_clients():
    """Make pypowervm's VNC listener require client certificates (idem)."""
    vterm = _vterm()
    current = getattr(vterm, 'ssl', None)
    if current is None or isinstance(current, _VerifyingSsl):
        return
    vterm.ssl = _VerifyingSsl(current)


# -- subtasks run outside a WrapperTask (vios_feed.FeedTask) ------------------
#
# vios_feed.FeedTask applies a WrapperTask's subtasks to a wrapper it POSTs
# itself (one group commit with other flows' changes).  pypowervm runs
# subtasks only inside WrapperTask.execute, which also POSTs; so they are
# run here as it runs them: each Subtask's execute gets the wrapper, its
# ``save_args``/``save_kwargs`` and, when its execute accepts one,
# ``provided`` (the returns of earlier subtasks with ``provides``); a true
# return of a subtask with ``flag_update`` asks for the update.

def run_subtasks(subtasks, wrapper):
    """Apply pypowervm Subtasks to ``wrapper`` as a WrapperTask does.

    Does not update (POST) the wrapper.
    :return: (whether an update is needed, {provides: return value}).
    """
    provided = {}
    update_needed = False
    for subtask in subtasks:
        kwargs = dict(subtask.save_kwargs)
        if _takes_provided(subtask):
            kwargs['provided'] = provided
        ret = subtask.execute(wrapper, *subtask.save_args, **kwargs)
        if subtask.flag_update and ret:
            update_needed = True
        if subtask.provides is not None:
            provided[subtask.provides] = ret
    return update_needed, provided


def _takes_provided(subtask):
    execute = subtask.execute
    func = getattr(execute, '__func__', None)
    if func is None:
        return _accepts_provided(execute)
    return _execute_takes_provided(func)


@functools.lru_cache(maxsize=256)
def _execute_takes_provided(func):
    # Per Subtask class (its execute function), not per run: a signature
    # inspection costs about as much as a small subtask's work.
    return _accepts_provided(func)


def _accepts_provided(func):
    return ('provided' in reflection.get_callable_args(func) or
            reflection.accepts_kwargs(func))


def preset_wrapper_tasks(ftsk, wtasks):
    """Give a FeedTask its WrapperTasks ({UUID: WrapperTask}), no feed read.

    pypowervm builds them from the feed on first use of ``wrapper_tasks``
    (a GET); WrapperTasks started from getters read nothing until used.
    """
    ftsk._tx_by_uuid = dict(wtasks)


# -- a new read through a getter (batch) --------------------------------------
#
# An EntryWrapperGetter caches the wrapper of its first get() (its public
# ``cache`` attribute); a WrapperTask started from a getter changes that
# cached wrapper in place.  get(refresh=True) GETs with the cached etag and
# keeps the (changed) wrapper when the server answers 304 Not Modified.
# A retry after a failed POST needs the object as the server has it: a
# shallow copy of the getter without its cache reads it again.

def read_again(getter):
    """A new GET of the object ``getter`` names (``getter`` is unchanged)."""
    fresh = copy.copy(getter)
    fresh.cache = None
    return fresh.get()


# -- a POST's answer built, not parsed (vios_post.py) -------------------------
#
# Adapter.update_by_path makes the request through the adapter's helpers
# (its public ``helpers`` argument: each wraps the request function, the
# last one Session.request) and then has the Response parse its body
# (``Response._unmarshal_atom``: the Atom entry into ``entry``).  An
# innermost helper hands back a Response whose ``_unmarshal_atom`` first
# asks a builder for the entry; pypowervm's parse runs when it gives none.

class _BuiltAnswer(pvm_adpt.Response):
    """A Response whose entry ``build(self)`` may give (else parsed)."""

    build = None

    def _unmarshal_atom(self):
        entry = self.build(self) if self.build and self.body else None
        if entry is None:
            return super()._unmarshal_atom()
        self.entry = entry


def answer_helper(build):
    """An Adapter helper: ``build(resp)`` gives the answer's Entry or None.

    Only for one update_by_path call, as the last of its helpers.
    """
    def helper(func):
        def request(*args, **kwargs):
            resp = func(*args, **kwargs)
            if type(resp) is not pvm_adpt.Response:
                return resp
            built = _BuiltAnswer(
                resp.reqmethod, resp.reqpath, resp.status, resp.reason,
                resp.headers, reqheaders=resp.reqheaders,
                reqbody=resp.reqbody, body=resp.body)
            built.build = build
            return built
        return request
    return helper


# -- event feed reads (state_cache.py) ---------------------------------------
#
# pypowervm's event poll thread swallows a failed event feed read (it logs,
# sleeps 5 s and hands its handlers an empty batch, as after an idle poll).
# A read whose answer was lost may have carried events, so the partition
# cache must stop trusting the feed then; pypowervm offers no public signal
# for it.  The listener reads through its own adapter (``listener.adp``);
# its ``read`` is wrapped to report each read's outcome.

def watch_event_reads(listener, report):
    """Call ``report(ok)`` after every event feed read of ``listener``.

    :return: False when the listener has no adapter to watch (then nothing
        is ever reported and the cache never trusts the feed).
    """
    adp = getattr(listener, 'adp', None)
    read = getattr(adp, 'read', None)
    if read is None:
        return False

    def watched(*args, **kwargs):
        try:
            resp = read(*args, **kwargs)
        except Exception:
            report(False)
            raise
        report(True)
        return resp
    adp.read = watched
    return True


# -- lean event feed polls (event.py) ----------------------------------------
#
# pypowervm's poll thread (``_EventPollThread.run``) calls the listener's
# ``_get_events()`` and hands its (events, raw events, Event wrappers) to
# ``_dispatch_events``, which gives a ``RawEventHandler`` the raw events
# only.  ``_get_events`` reads the feed through ``listener.adp.read``, which
# builds pypowervm entities of the whole feed, then reads each event's
# fields through them and wraps every entry again as an Event: about a
# third of a poll's CPU besides HTTP, spent for the raw events alone.  While
# every subscribed handler is a ``RawEventHandler`` the listener's
# ``_get_events`` is replaced by one that sends the same GET through the
# session (``Session.request``, as the adapter does) and reads the four
# fields of each entry with lxml; it fails as pypowervm's does (logs, waits
# :data:`EVENT_RETRY_S`, hands an empty batch) and reports every read's
# outcome as :func:`watch_event_reads` does.

EVENT_RETRY_S = 5
_EVENT_FIELDS = ('EventType', 'EventData', 'EventID', 'EventDetail')
_FEED = '{%s}feed' % pvm_const.ATOM_NS
_ENTRY = '{%s}entry' % pvm_const.ATOM_NS
_CONTENT = '{%s}content' % pvm_const.ATOM_NS


def raw_events(resp):
    """pypowervm's raw event dicts of an event feed answer (a Response).

    :raises ValueError: the answer is not an Atom feed of events (pypowervm
        raises AtomError then).
    """
    if not resp.body:
        if resp.status == pvm_const.HTTPStatus.OK_NO_CONTENT:
            return []
        raise ValueError('Empty event feed answer (HTTP %s)' % resp.status)
    root = etree.fromstring(resp.body)
    if root.tag != _FEED:
        raise ValueError('Event feed answer is not an Atom feed')
    out = []
    for entry in root.iterchildren(_ENTRY):
        content = entry.find(_CONTENT)
        if content is None or not len(content):
            raise ValueError('Event feed entry without content')
        evt = content[0]
        ns = etree.QName(evt).namespace
        fmt = '{%s}%%s' % ns if ns else '%s'
        # As pypowervm's Element.findtext: an empty text is None.
        out.append({name: evt.findtext(fmt % name) or None
                    for name in _EVENT_FIELDS})
    return out


def event_feed_path(listener):
    """The path pypowervm's poll reads (``listener.adp.read``'s)."""
    return pvm_util.dice_href(pvm_adpt.Adapter.build_path(
        'uom', 'Event?QUEUE_CLIENTKEY_METHOD=USE_APPLICATIONID&'
        'QUEUE_APPLICATIONID=%s' % listener.appid))


def lean_event_reads(listener, report):
    """Make ``listener``'s polls parse only the raw events (idem).

    ``report(ok)`` is called after every such read.  pypowervm's own read
    is used while a handler of another kind is subscribed (from the poll
    after the one in flight when it subscribed).
    :return: False when the listener does not poll as described above.
    """
    original = getattr(listener, '_get_events', None)
    if (getattr(listener, 'adp', None) is None or original is None or
            getattr(original, 'lean', False)):
        return False
    path = event_feed_path(listener)
    headers = {'Accept': 'application/atom+xml'}

    def lean():
        adp = listener.adp
        if adp is None or not all(
                isinstance(h, pvm_adpt.RawEventHandler)
                for h in list(listener.handlers)):
            return original()
        try:
            resp = adp.session.request('GET', path, headers=dict(headers),
                                       timeout=listener.timeout)
            events = raw_events(resp)
        except Exception as e:
            report(False)
            LOG.warning('Error while getting PowerVM events: %s.  (Is the '
                        'pvm-rest service down?)', e)
            time.sleep(EVENT_RETRY_S)
            return {}, [], []
        report(True)
        return {}, events, []
    lean.lean = True
    listener._get_events = lean
    return True
