"""Partition consoles served as VNC, and DLPAR readiness.

On NovaLink ``mkvterm --id <n> --vnc --local`` opens the partition's
virtual terminal and serves it as VNC on a localhost port (printed on
stdout); ``rmvterm --id <n>`` closes it.  Here the ``mkvterm`` and
``rmvterm`` controls do the same (``vterm_cmd`` is the command-line front
end pypowervm runs): the terminal is recorded as open in the same set as
the ``open_vterm`` control's (so a DELETE of the partition is refused and
the ``CloseVterm`` job closes it), and a small RFB 3.8 server answers on
127.0.0.1.  The server stops as soon as the terminal is closed by any
means (rmvterm, CloseVterm, reset, simulator stop).

``set_rmc`` makes a running partition's RMC connection active with the
dynamic (DLPAR) capabilities an operating system reports through it.
"""
import select
import socket
import struct
import threading
import weakref

from nova_powervm.simulator import partition
from nova_powervm.simulator import registry as reg

_VTERMS = partition.VTERMS
# sim -> {partition uuid: _VncServer}
_SERVERS = weakref.WeakKeyDictionary()
_SERVERS_LOCK = threading.Lock()
_POLL_S = 0.1
_WIDTH, _HEIGHT = 640, 480
# 32 bpp, depth 24, little endian, true colour, 255/255/255, shifts 16/8/0.
_PIXEL_FORMAT = struct.pack('!BBBBHHHBBB3x', 32, 24, 0, 1, 255, 255, 255,
                            16, 8, 0)
RC_OK, RC_FAILED, RC_ALREADY_OPEN = 0, 1, 3


def _vterms(sim):
    return sim.extra.setdefault(_VTERMS, set())


def _by_id(sim, lpar_id):
    for obj in partition.partitions(sim):
        if obj.text('PartitionID') == str(lpar_id):
            return obj
    return None


class _VncServer(object):
    """An RFB 3.8 server (no authentication) for one partition's terminal."""

    def __init__(self, sim, obj):
        self.sim = weakref.ref(sim)
        self.uuid = obj.uuid
        self.name = (obj.text('PartitionName') or '').encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sessions = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True,
                                       name='sim-vnc-%s' % self.port)
        self.thread.start()

    def _open(self):
        sim = self.sim()
        return (sim is not None and sim.running and
                not self.stopped.is_set() and
                self.uuid in sim.extra.get(_VTERMS, ()) and
                sim.store.get('LogicalPartition', self.uuid) is not None)

    def _serve(self):
        # Only this thread touches the listening socket; each session's
        # thread its own (closing a socket under a select() is unsafe).
        try:
            while self._open():
                ready = select.select([self.sock], [], [], _POLL_S)[0]
                if ready and self._open():
                    client, _addr = self.sock.accept()
                    self.sessions += 1
                    threading.Thread(target=self._session, args=(client,),
                                     daemon=True).start()
        finally:
            self.stopped.set()
            self.sock.close()
            self._forget()

    def _forget(self):
        sim = self.sim()
        with _SERVERS_LOCK:
            servers = _SERVERS.get(sim, {}) if sim is not None else {}
            if servers.get(self.uuid) is self:
                del servers[self.uuid]

    def stop(self):
        """Stop serving; the port is closed when this returns."""
        self.stopped.set()
        self._forget()
        if threading.current_thread() is not self.thread:
            self.thread.join(5)

    @staticmethod
    def _recv(sock, size):
        data = b''
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise EOFError()
            data += chunk
        return data

    def _session(self, sock):
        try:
            sock.sendall(b'RFB 003.008\n')
            self._recv(sock, 12)
            sock.sendall(b'\x01\x01')           # one security type: None
            self._recv(sock, 1)
            sock.sendall(struct.pack('!I', 0))  # SecurityResult: OK
            self._recv(sock, 1)                 # ClientInit
            sock.sendall(struct.pack('!HH', _WIDTH, _HEIGHT) + _PIXEL_FORMAT +
                         struct.pack('!I', len(self.name)) + self.name)
            while self._open():
                if select.select([sock], [], [], _POLL_S)[0]:
                    if not sock.recv(4096):
                        break
        except (OSError, EOFError):
            pass
        finally:
            sock.close()


def _server(sim, uuid):
    with _SERVERS_LOCK:
        srv = _SERVERS.get(sim, {}).get(uuid)
    return srv if srv is not None and not srv.stopped.is_set() else None


@reg.control('mkvterm')
def mkvterm(sim, lpar_id, vnc=True):
    """``mkvterm --id <lpar_id> [--vnc --local]``: (rc, stdout, stderr).

    rc 3 when the terminal is already open: with its VNC port when it was
    opened as VNC, without one when it was opened otherwise.
    """
    with sim.lock:
        obj = _by_id(sim, lpar_id)
        if obj is None:
            return RC_FAILED, '', 'No partition with ID %s\n' % lpar_id
        srv = _server(sim, obj.uuid)
        if obj.uuid in _vterms(sim):
            if srv is not None:
                return (RC_ALREADY_OPEN, '%d\n' % srv.port,
                        'A terminal session is already open\n')
            return (RC_ALREADY_OPEN, '',
                    'A terminal session is already open\n')
        _vterms(sim).add(obj.uuid)
        if not vnc:
            return RC_OK, '', ''
        srv = _VncServer(sim, obj)
        with _SERVERS_LOCK:
            _SERVERS.setdefault(sim, {})[obj.uuid] = srv
        return RC_OK, '%d\n' % srv.port, ''


@reg.control('rmvterm')
def rmvterm(sim, lpar_id):
    """``rmvterm --id <lpar_id>``: (rc, stdout, stderr); closed is fine."""
    with sim.lock:
        obj = _by_id(sim, lpar_id)
        if obj is None:
            return RC_FAILED, '', 'No partition with ID %s\n' % lpar_id
        _vterms(sim).discard(obj.uuid)
        srv = _server(sim, obj.uuid)
    if srv is not None:
        srv.stop()
    return RC_OK, '', ''


@reg.control('vnc_console')
def vnc_console(sim, lpar_uuid):
    """{'port', 'sessions' (clients served so far)} or None."""
    srv = _server(sim, lpar_uuid.upper())
    if srv is None or not srv._open():
        return None
    return {'port': srv.port, 'sessions': srv.sessions}


@reg.control('set_rmc')
def set_rmc(sim, lpar_uuid, active=True):
    """Set a partition's RMC connection (and its DLPAR capabilities)."""
    with sim.lock:
        obj = sim.store.get('LogicalPartition', lpar_uuid.upper())
        if obj is None:
            raise KeyError('No partition %s' % lpar_uuid)
        partition.set_rmc_state(obj, active)
        sim.store.touch(obj, detail='RMCState')
