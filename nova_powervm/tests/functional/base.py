"""A base for driver tests that share one REST simulator per test class.

Starting a simulator per test is cheap, but suites that run the same flow
hundreds of times (the fault matrix) keep one per class and ``reset()`` it
before every test.  Each test still gets a fresh driver (``init_host`` over
a new session), fresh process caches and its own image service.
"""
import difflib
import hashlib
import json
import os
import pprint
import shutil
import struct
from unittest import mock

import fixtures
from nova import objects
from nova import test
from pypowervm.tasks import vopt as tsk_vopt

from nova_powervm.tests import event_threads
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import mapping_invariant
from nova_powervm.tests.functional import shared_answers
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import session
from nova_powervm.virt.powervm.volume import iscsi
from nova_powervm.virt.powervm.volume import vscsi

from nova_powervm.simulator import control as sim_control
from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.simulator import xmlutil as xu

IMAGE_SIZE = 256 * 1024 + 17


def non_event(log):
    """Request log entries without the event listener's long polls."""
    return [r for r in log if not r['path'].startswith('/rest/api/uom/Event')]


def disk_digest(sim, name, length=None):
    """sha256 of a simulated disk's contents, read in chunks.

    A disk reads back its whole virtual size, so an image disk holds its
    image and then zeros: with ``length``, the digest is of the first
    ``length`` bytes, and only if zeros follow (else a marker that matches
    no digest).
    """
    return file_digest(sim.disk_path(name=name), length)


def file_digest(path, length=None):
    """sha256 of a file (of its first ``length`` bytes, zeros following).

    See :func:`disk_digest`.
    """
    digest = hashlib.sha256()
    left = length
    with open(path, 'rb') as src:
        while left is None or left > 0:
            chunk = src.read(1 << 16 if left is None else min(left, 1 << 16))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
        if length is not None and not _zeros_from(src, length):
            return 'non-zero data after %d bytes' % length
    return digest.hexdigest()


_BLOCK = 1 << 16


def content_fingerprint(path):
    """(size, digest) of a file's bytes, reading only its data extents.

    The digest covers each non-zero 64 KiB block (at a block-aligned
    offset) with its offset, so two files have equal fingerprints exactly
    when their bytes are equal, holes reading as zeros: a 1 GB sparse disk
    costs the few blocks it holds, not a gigabyte of reads and hashing.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as src:
        fd = src.fileno()
        size = os.fstat(fd).st_size
        done = 0    # block-aligned: everything before it is hashed
        while done < size:
            try:
                start = os.lseek(fd, done, os.SEEK_DATA)
            except OSError:     # ENXIO: only a hole follows
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            src.seek(max(done, start - start % _BLOCK))
            while src.tell() < end:
                offset = src.tell()
                block = src.read(_BLOCK)
                if block.count(0) != len(block):
                    digest.update(struct.pack('<Q', offset) + block)
            done = src.tell()
    return size, digest.hexdigest()


def zeros_after(path, offset):
    """Whether a file holds only zeros from ``offset`` on (holes skipped)."""
    with open(path, 'rb') as src:
        return _zeros_from(src, offset)


def _zeros_from(src, offset):
    """Whether open file src holds only zeros from offset on.

    Reads to the next 64 KiB boundary, then asks the file system whether
    any data follows (the rest of a sparse disk is one hole).
    """
    size = os.fstat(src.fileno()).st_size
    edge = min(size, -(-offset // 65536) * 65536)
    src.seek(offset)
    if src.read(edge - offset).strip(b'\0'):
        return False
    if edge >= size:
        return True
    try:
        os.lseek(src.fileno(), edge, os.SEEK_DATA)
    except OSError:   # ENXIO: nothing but a hole after edge
        return True
    src.seek(edge)
    return all(c.count(0) == len(c)
               for c in iter(lambda: src.read(1 << 20), b''))


def image_size(glance, image_id):
    """Bytes of an image stored by StreamingGlanceFixture."""
    return os.path.getsize(glance.data_path(image_id))


# nova's [DEFAULT] mkisofs_cmd; CI installs it (.ci/run).
ISO_TOOL = 'genisoimage'
MISSING_ISO_TOOL = 'missing external tool: %s' % ISO_TOOL
_SECTOR = 2048


def fake_iso(path, tmpdir):
    """Stand-in for mkisofs, kept for the benchmarks only."""
    with open(path, 'wb') as f:
        f.write(b'CD001' + b'\0' * 4096)


def require_iso_tool(test_case):
    """Skip (naming the tool) when genisoimage is not installed."""
    if shutil.which(ISO_TOOL) is None:
        test_case.skipTest(MISSING_ISO_TOOL)


class StaticMetadata(object):
    """nova's InstanceMetadata for tests without a database.

    The real one reads security groups, block device mappings and EC2 ids
    from the DB; the files here are what the tests check inside the ISO.
    """

    def __init__(self, instance, content=None, extra_md=None,
                 network_info=None, **kwargs):
        self.instance = instance

    def metadata_for_config_drive(self):
        yield ('openstack/latest/meta_data.json', json.dumps(
            {'uuid': self.instance.uuid,
             'name': self.instance.display_name}))


def use_slot_map_dir(test_case):
    """Slot maps (when turned on) in a temporary directory."""
    path = test_case.useFixture(fixtures.TempDir()).path
    test_case.flags(group='powervm', slot_map_dir=path)
    return path


def use_config_drive(test_case):
    """Config drives built by nova's builder with the real ISO tool.

    The ISO lands in a temporary directory (image_meta_local_path);
    without the tool, the ISO build raises (tests that build one call
    require_iso_tool first).  Returns the directory.
    """
    tmp = test_case.useFixture(fixtures.TempDir()).path
    test_case.flags(group='powervm', image_meta_local_path=tmp)
    test_case.flags(mkisofs_cmd=ISO_TOOL, config_drive_format='iso9660')
    test_case.useFixture(fixtures.MonkeyPatch(
        'nova.api.metadata.base.InstanceMetadata', StaticMetadata))
    return tmp


def iso9660(path):
    """(volume label, {file path: bytes}) of an ISO 9660 image.

    Reads the primary volume descriptor and walks its directory tree
    (names without the ';1' version), enough to check a config drive.
    """
    with open(path, 'rb') as f:
        data = f.read()

    def sector(n):
        return data[n * _SECTOR:(n + 1) * _SECTOR]
    pvd = sector(16)
    if pvd[0:1] != b'\x01' or pvd[1:6] != b'CD001':
        raise ValueError('%s is not an ISO 9660 image' % path)
    label = pvd[40:72].decode('ascii').strip()
    files = {}

    def walk(extent, size, prefix):
        raw = data[extent * _SECTOR:extent * _SECTOR + size]
        pos = 0
        while pos < len(raw):
            length = raw[pos]
            if length == 0:     # records do not cross sector ends
                pos = (pos // _SECTOR + 1) * _SECTOR
                continue
            rec = raw[pos:pos + length]
            pos += length
            name = rec[33:33 + rec[32]]
            if name in (b'\0', b'\1'):
                continue
            ext, = struct.unpack('<I', rec[2:6])
            dlen, = struct.unpack('<I', rec[10:14])
            name = name.decode('ascii').split(';')[0].rstrip('.')
            if rec[25] & 2:
                walk(ext, dlen, prefix + name + '/')
            else:
                files[prefix + name] = data[ext * _SECTOR:
                                            ext * _SECTOR + dlen]
    root = pvd[156:190]
    walk(struct.unpack('<I', root[2:6])[0],
         struct.unpack('<I', root[10:14])[0], '')
    return label, files


def assert_config_drive(test_case, sim, instance):
    """Check the instance's config drive in the media repository.

    It is an ISO 9660 image labelled config-2 holding its metadata.
    """
    from nova_powervm.virt.powervm import media
    label, files = iso9660(sim.disk_path(name=media.media_name(instance)))
    test_case.assertEqual('config-2', label)
    meta = json.loads(files['openstack/latest/meta_data.json'])
    test_case.assertEqual(instance.uuid, meta['uuid'])
    return files


def bare_instance(uuid, n, name, image_ref=None, root_gb=1):
    """An Instance (no DB) with a 1 vCPU, 512 MB flavor."""
    inst = objects.Instance(uuid=uuid, id=n, image_ref=image_ref,
                            display_name=name, host='h',
                            vm_state='active', task_state=None,
                            system_metadata={}, metadata={})
    inst.flavor = objects.Flavor(root_gb=root_gb, vcpus=1, memory_mb=512,
                                 extra_specs={}, ephemeral_gb=0, swap=0)
    return inst


class AdapterSimTestCase(test.NoDBTestCase):
    """A fresh simulator per test and a pypowervm adapter logged on to it.

    Attributes: ``sim``, ``adapter`` (logged off at cleanup), ``host_w``
    (the managed system's wrapper).  [powervm] points at the simulator.
    """

    sim_kwargs = {'power_delay_s': 0.01}
    # batch.SHARE callers never change their answer (shared_answers.py).
    check_shared_answers = True

    def setUp(self):
        super().setUp()
        self.useFixture(event_threads.EventPollThreadsFixture())
        fx = self.useFixture(sim_fixture.SimulatorFixture(**self.sim_kwargs))
        self.sim = fx.sim
        self.flags(group='powervm', **fx.flags_for_conf())
        use_slot_map_dir(self)
        self.adapter = session.build_adapter()
        self.addCleanup(self.adapter.session._logoff)
        self.host_w = session.get_host_wrapper(self.adapter)
        if self.check_shared_answers:
            self.useFixture(shared_answers.SharedAnswersFixture())

    def _requests(self, fn, *args, **kwargs):
        """``fn``'s result and the (method, path) of the requests it sent."""
        self.sim.clear_request_log()
        ret = fn(*args, **kwargs)
        return ret, [(r['method'], r['path']) for r in self.sim.request_log()]


class InventoryAssertions(object):
    """assertInventory for test cases with a simulator in ``self.sim``."""

    def assertInventory(self, expected, actual=None, msg=''):
        """The simulator's state equals ``expected`` (diff on mismatch)."""
        actual = self.sim.inventory() if actual is None else actual
        if actual != expected:
            diff = difflib.unified_diff(
                pprint.pformat(expected).splitlines(),
                pprint.pformat(actual).splitlines(), lineterm='')
            self.fail('%sinventory differs:\n%s' % (
                msg and msg + ': ', '\n'.join(diff)))


def _no_scrub(adapter, host_uuid):
    """startup.scrub's stand-in (see ClassSimTestCase.startup_scrub)."""


class ClassSimTestCase(InventoryAssertions, test.NoDBTestCase):
    """The real driver (``init_host`` done) against a per-class simulator.

    Attributes: ``sim`` (reset before each test), ``drv``, ``glance``
    (:class:`StreamingGlanceFixture`), ``image_meta``/``image_id`` (a small
    raw image), ``disks`` (:class:`DiscoverDiskFixture`).  Config drives
    are built with genisoimage (tests that spawn one call
    ``require_iso_tool``).  ``event_listener = False`` (the default)
    keeps the listener's long polls out of the request log.  Every driver
    operation is checked to leave the other partitions' vSCSI mappings
    alone (``mapping_invariant``), and every ``batch.SHARE`` answer to stay
    unchanged (``shared_answers``).
    """

    disk_driver = 'localdisk'
    event_listener = False
    # False: init_host skips the start-up scrub (a host reset for the test
    # has nothing stale; test_startup covers the scrub).
    startup_scrub = True
    sim_kwargs = {'power_delay_s': 0.0, 'event_hold_s': 0.2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = sim_control.Simulator(host='127.0.0.1', port=0,
                                        **cls.sim_kwargs)
        cls.sim.start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.useFixture(event_threads.EventPollThreadsFixture())
        if not self.sim.running:
            self.sim.start()
        self.sim.reset()
        self.addCleanup(self.sim.clear_faults)
        self._clear_caches()
        self.flags(group='powervm', host=self.sim.host, port=self.sim.port,
                   protocol='http', username=self.sim.username,
                   password=self.sim.password, use_rmc_mgmt_vif=False,
                   disk_driver=self.disk_driver)
        use_slot_map_dir(self)
        if self.disk_driver == 'localdisk':
            self.flags(group='powervm', volume_group_name=self.data_vg())
        self.flags(remove_unused_base_images=True, group='image_cache')
        self.glance = self.useFixture(
            pvm_fixtures.StreamingGlanceFixture(self))
        img = self.glance.add_image(IMAGE_SIZE, name='fm-image')
        self.image_meta = objects.ImageMeta.from_dict(img)
        self.image_id = img['id']
        self.disks = self.useFixture(pvm_fixtures.DiscoverDiskFixture(
            self.sim))
        use_config_drive(self)
        self.mapping_invariant = self.useFixture(
            mapping_invariant.MappingInvariantFixture(
                self, lambda: [self.sim]))
        # batch.SHARE callers never change their answer.
        self.shared_answers = self.useFixture(
            shared_answers.SharedAnswersFixture())
        if not self.event_listener:
            self.useFixture(fixtures.MockPatchObject(
                pvm_event, 'start_listener', return_value=None))
        if not self.startup_scrub:
            self.useFixture(fixtures.MonkeyPatch(
                'nova_powervm.virt.powervm.startup.scrub', _no_scrub))
        self.drv = self.new_driver()

    def _clear_caches(self):
        mgmt._reset_cache()
        self.addCleanup(mgmt._reset_cache)
        vscsi._PFC_CACHE.clear()
        # pypowervm remembers the media repository per process: start cold
        # so request counts do not depend on the tests run before.
        tsk_vopt._cur_vios_uuid = tsk_vopt._cur_vg_uuid = None
        iscsi._INITIATOR_CACHE.clear()

    def new_driver(self):
        """A PowerVMDriver after init_host (stopped at test cleanup)."""
        drv = driver.PowerVMDriver(mock.Mock())
        drv.init_host('compute1')
        self.addCleanup(self._shutdown, drv)
        return drv

    @staticmethod
    def _shutdown(drv):
        drv.cleanup_host('compute1')
        try:
            drv.adapter.session._logoff()
        except Exception:
            pass

    def data_vg(self):
        """Name of a volume group other than rootvg (the media repo's)."""
        names = [xu.text(vg, 'GroupName') for vg in
                 self.sim.objects('VolumeGroup')]
        data = [n for n in names if n and n != 'rootvg']
        return (data or names or ['datavg'])[0]

    def requests(self):
        """(method, path) of the logged requests, event polls excluded."""
        return [(r['method'], r['path'])
                for r in non_event(self.sim.request_log())]
