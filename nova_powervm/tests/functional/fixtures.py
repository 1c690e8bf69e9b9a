"""Fixtures shared by the functional tests and the demo.

``StreamingGlanceFixture`` stands in for the image service the way the real
one behaves towards a driver that streams: ``download()`` without a
destination returns an iterator of chunks, and image data given to
``create()``/``update()`` (a file-like object or an iterator of chunks) is
written to a temporary file, never held in memory.

``SEANeutronFixture`` binds nova's fake Neutron ports as ``pvm_sea`` (pure
REST) instead of ``ovs`` (a real Open vSwitch); ``FCCinderFixture`` adds Fibre
Channel volumes to nova's fake Cinder.

``DiscoverDiskFixture`` is the glue that lets snapshot run without a real
block device: ``mgmt.discover_vscsi_disk`` answers the simulator's file that
backs the mapped disk (``sim.disk_path(name)``).
"""
import contextlib
import copy
import hashlib
import os
import threading

import fixtures
from nova import exception
from nova.tests import fixtures as nova_fixtures
from oslo_utils import uuidutils

CHUNK_SIZE = 64 * 1024
# The longest a held upload waits for its release (a test that forgot it).
HOLD_MAX_S = 120


def _iter_chunks(data):
    """Yield byte chunks from bytes, a file-like object or an iterable."""
    if isinstance(data, (bytes, bytearray)):
        for start in range(0, len(data), CHUNK_SIZE):
            yield bytes(data[start:start + CHUNK_SIZE])
    elif hasattr(data, 'read'):
        while True:
            chunk = data.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk
    else:
        for chunk in data:
            if chunk:
                yield chunk


def pattern_bytes(size, seed=b'nova-powervm'):
    """Deterministic, non-uniform image content of ``size`` bytes, chunked.

    Different offsets carry different bytes so a misplaced or truncated copy
    does not compare equal.
    """
    block = hashlib.sha256(seed).digest() * (CHUNK_SIZE // 32)
    sent = 0
    index = 0
    while sent < size:
        head = index.to_bytes(8, 'big')
        chunk = (head + block)[:min(CHUNK_SIZE, size - sent)]
        sent += len(chunk)
        index += 1
        yield chunk


class StreamingGlanceFixture(nova_fixtures.GlanceFixture):
    """nova's GlanceFixture with image data kept in files and streamed."""

    def __init__(self, test):
        # nova's fixture stubs nova.image.glance through test.stub_out.
        super().__init__(test)
        self.downloads = []
        self._hold = None

    def setUp(self):
        super().setUp()
        self.data_dir = self.useFixture(fixtures.TempDir()).path

    def data_path(self, image_id):
        """The file holding an image's data (may not exist)."""
        return os.path.join(self.data_dir, str(image_id))

    def hold_uploads(self):
        """Hold each later upload after its first chunk until released.

        :returns: ``(held, release)`` Events: ``held`` is set when an upload
            waits; setting ``release`` lets it go on.
        """
        self._hold = (threading.Event(), threading.Event())
        return self._hold

    def _store(self, image_id, data):
        """Like Glance: the image is active once all its data is stored; a
        failed upload leaves it queued, without data.
        """
        try:
            self._write(image_id, data)
        except Exception:
            self.images[image_id]['status'] = 'queued'
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.data_path(image_id))
            raise

    def _write(self, image_id, data):
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        zeros = bytes(CHUNK_SIZE)
        self.images[image_id]['status'] = 'saving'
        with open(self.data_path(image_id), 'wb') as out:
            for chunk in _iter_chunks(data):
                if self._hold and size == 0:
                    self._hold[0].set()
                    self._hold[1].wait(HOLD_MAX_S)
                # Runs of zeros (most of a freshly created disk) become
                # holes: a snapshot of a 1 GB disk stays cheap on /tmp.
                if chunk == zeros[:len(chunk)]:
                    out.seek(len(chunk), os.SEEK_CUR)
                else:
                    out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.truncate(size)
        image = self.images[image_id]
        image.update(size=size, checksum=digest.hexdigest(), status='active')

    def _chunks(self, image_id):
        path = self.data_path(image_id)
        if os.path.exists(path):
            with open(path, 'rb') as src:
                yield from _iter_chunks(src)
        else:
            # One of nova's canned images: it declares a size but was never
            # given data; stream that many zero bytes.
            remaining = self.images[image_id].get('size') or 0
            zeros = bytes(CHUNK_SIZE)
            while remaining > 0:
                chunk = zeros[:min(CHUNK_SIZE, remaining)]
                remaining -= len(chunk)
                yield chunk

    def create(self, context, metadata, data=None):
        if data is None and metadata.get('size') != 0:
            # Glance: no data yet (nova's fixture says active).
            metadata = dict(metadata, status='queued')
        image = super().create(context, metadata)
        if data is not None:
            self._store(image['id'], data)
        return self.images[image['id']]

    def update(self, context, image_id, metadata, data=None,
               purge_props=False):
        # nova's image API does not send the read-only status.
        metadata = {k: v for k, v in metadata.items() if k != 'status'}
        super().update(context, image_id, metadata, purge_props=purge_props)
        if data is not None:
            self._store(image_id, data)
        return self.images[image_id]

    def delete(self, context, image_id):
        super().delete(context, image_id)
        try:
            os.unlink(self.data_path(image_id))
        except FileNotFoundError:
            pass

    def download(self, context, image_id, data=None, dst_path=None,
                 trusted_certs=None):
        """Like the real image API: write to data/dst_path, else iterate."""
        image_id = str(image_id)
        self.show(context, image_id)
        self.downloads.append(image_id)
        chunks = self._chunks(image_id)
        if data is not None:
            for chunk in chunks:
                data.write(chunk)
            return None
        if dst_path:
            with open(dst_path, 'wb') as out:
                for chunk in chunks:
                    out.write(chunk)
            return None
        return chunks

    def add_image(self, size, name='powervm-test-image', seed=None,
                  **properties):
        """Register an active raw image of ``size`` bytes of pattern data.

        :returns: the image record (``id``, ``size``, ``checksum``, ...).
        """
        meta = {'name': name, 'container_format': 'bare',
                'disk_format': 'raw', 'visibility': 'public',
                'min_disk': 0, 'min_ram': 0,
                'properties': dict(properties)}
        image = super().create(None, meta)
        self._store(image['id'],
                    pattern_bytes(size, seed=(seed or name).encode()))
        return self.images[image['id']]

    def image_digest(self, image_id):
        """sha256 of an image's stored data (for snapshot round trips)."""
        digest = hashlib.sha256()
        for chunk in self._chunks(str(image_id)):
            digest.update(chunk)
        return digest.hexdigest()

    def read_image(self, image_id, length=-1):
        """The stored data of an image (its first ``length`` bytes)."""
        try:
            with open(self.data_path(image_id), 'rb') as src:
                return src.read(length)
        except FileNotFoundError:
            raise exception.ImageNotFound(image_id=image_id)


class SEANeutronFixture(nova_fixtures.NeutronFixture):
    """nova's NeutronFixture with ports bound as ``pvm_sea``.

    nova's fixture binds ``ovs`` ports, which os-vif would plug into a real
    Open vSwitch; a Shared Ethernet Adapter port is all PowerVM REST.
    """

    VIF_TYPE = 'pvm_sea'
    # The VLAN networking-powervm's SEA agent puts in the binding details
    # (a pvm_sea port without one is refused).
    VLAN = 100

    def __init__(self, test):
        super().__init__(test)
        self.default_port = copy.deepcopy(self.default_port)
        for port in [self.default_port] + list(self._ports.values()):
            self._bind(port)

    def _bind(self, port):
        port['binding:vif_type'] = self.VIF_TYPE
        port['binding:vif_details'] = dict(
            port.get('binding:vif_details') or {}, vlan=self.VLAN)

    def add_port(self, port):
        """Offer one more of nova's fixture ports (e.g. ``port_2``, which
        nova's fixture leaves out), bound ``pvm_sea``; returns it.
        """
        port = copy.deepcopy(port)
        self._bind(port)
        self._ports[port['id']] = port
        return port


class FCCinderFixture(nova_fixtures.CinderFixture):
    """nova's CinderFixture plus Fibre Channel (and other) volumes.

    ``add_fc_volume`` registers a volume whose connection_info is what a
    Cinder FC driver returns: target WWPNs, LUN and, once nova sent a
    connector with initiator WWPNs, an initiator-target map.
    ``add_volume`` registers one of any type with the given data.
    """

    def __init__(self, test, az='nova'):
        super().__init__(test, az=az)
        self.VOLUME_CONNECTION_INFO = dict(self.VOLUME_CONNECTION_INFO)
        self.connectors = []

    def add_fc_volume(self, target_wwpns, lun=1, size=1, bootable=False,
                      name=None):
        """Create an available FC volume; returns its id."""
        return self.add_volume(
            'fibre_channel', {'target_wwn': list(target_wwpns),
                              'target_lun': lun, 'target_discovered': False},
            size=size, bootable=bootable, name=name or 'fc-vol-%d' % lun)

    def add_volume(self, vtype, data, size=1, bootable=False, name=None):
        """An available volume of any connection type; returns its id.

        ``data``: the connection_info data Cinder's driver returns.
        """
        vol_id = uuidutils.generate_uuid()
        self.volumes[vol_id] = {
            'id': vol_id, 'display_name': name or '%s-vol' % vtype,
            'size': size, 'status': 'available',
            'attach_status': 'detached', 'multiattach': False,
            'availability_zone': self.az, 'bootable': bootable}
        self.VOLUME_CONNECTION_INFO[vol_id] = {
            'driver_volume_type': vtype,
            'data': dict(data, encrypted=False)}
        return vol_id

    def fake_attachment_delete(self, context, attachment_id):
        """As Cinder: a volume left without attachments is available."""
        volume_id, _att, attachments = self._find_attachment(attachment_id)
        super().fake_attachment_delete(context, attachment_id)
        if not attachments and volume_id in self.volumes:
            self.volumes[volume_id].update(status='available',
                                           attach_status='detached')

    def _find_connection_info(self, volume_id, attachment_id):
        info = super()._find_connection_info(volume_id, attachment_id)
        connector = self.volume_to_attachment[volume_id].get(
            attachment_id, {}).get('connector') or {}
        if connector:
            self.connectors.append(connector)
        if info['driver_volume_type'] != 'fibre_channel':
            return info
        initiators = connector.get('wwpns') or []
        if initiators:
            targets = info['data']['target_wwn']
            info['data']['initiator_target_map'] = {
                wwpn: list(targets) for wwpn in initiators}
        return info


class DiscoverDiskFixture(fixtures.Fixture):
    """Make ``mgmt.discover_vscsi_disk`` answer the simulator's disk file.

    On NovaLink the management partition scans its SCSI bus for the disk
    just mapped to it; here the simulator keeps each disk's bytes in a file,
    so the device path is that file.
    """

    def __init__(self, sim, *more_sims):
        super().__init__()
        self.sim = sim
        # Several hosts: the first that has a disk of that name (an image
        # disk cached on two hosts has the same bytes on both).
        self.sims = (sim,) + more_sims
        self.calls = []

    def _discover(self, mapping, scan_timeout=300):
        name = mapping.backing_storage.name
        self.calls.append(name)
        for sim in self.sims[:-1]:
            try:
                return sim.disk_path(name)
            except KeyError:
                pass
        return self.sims[-1].disk_path(name)

    def _setUp(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.mgmt.discover_vscsi_disk',
            self._discover))


class VncConsoleFixture(fixtures.Fixture):
    """The simulator's terminal commands; pypowervm's VNC threads stopped.

    pypowervm forwards each console connection in a repeater thread that
    runs until the terminal is closed, and starts a thread that closes the
    terminal five minutes after its last client left: both would outlive
    the test and poll its stopped simulator (ECONNREFUSED noise in a later
    test).  Every such thread started while the fixture is in use is
    tracked (a repeater the driver's own terminal close stopped is no
    longer in pypowervm's table, yet its closer runs on); cleanup stops
    them all, before the simulator stops.
    """

    def __init__(self, sim):
        super(VncConsoleFixture, self).__init__()
        self.sim = sim
        self.started = []

    def _setUp(self):
        from nova_powervm.simulator import fixture as sim_fixture
        from pypowervm.tasks import vterm
        self.useFixture(sim_fixture.VtermCommandsFixture(self.sim))
        for cls in (vterm._VNCRepeaterServer, vterm._VNCKiller):
            self.useFixture(fixtures.MonkeyPatch(
                '%s.%s.start' % (cls.__module__, cls.__name__),
                self._tracked(cls.start)))
        self.addCleanup(stop_vnc_threads, self.started)

    def _tracked(self, start):
        def tracked_start(thread):
            self.started.append(thread)
            return start(thread)
        return tracked_start


def stop_vnc_threads(started=(), timeout=60):
    """Stop pypowervm's VNC repeaters and their delayed terminal closers.

    ``started``: more of those threads (see VncConsoleFixture) than the
    repeaters pypowervm still lists.
    """
    from pypowervm.tasks import vterm
    repeaters = list(vterm._VNC_LOCAL_PORT_TO_REPEATER.values())
    repeaters += [t for t in started if t not in repeaters and
                  isinstance(t, vterm._VNCRepeaterServer)]
    for rep in repeaters:
        rep.stop()
    for rep in repeaters:
        # A stopped repeater ends within its 1 s select; a client that
        # left meanwhile may make it start a closer then: joined first.
        if rep.ident is not None:
            rep.join(timeout)
    killers = [t for t in started if isinstance(t, vterm._VNCKiller)]
    killers += [rep.vnc_killer for rep in repeaters
                if rep.vnc_killer is not None and
                rep.vnc_killer not in killers]
    for killer in killers:
        killer.abort()
    for killer in killers:
        if killer.ident is not None:
            killer.join(timeout)
