"""Unit tests for mgmt.discover_vscsi_disk and mgmt.remove_block_dev."""
import glob
import os
import stat
from unittest import mock

import fixtures
from nova import test

from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import mgmt

UDID = '01M0lCTTIxNDUzMTI2MDA1MDc2ODAyODIwQTlEQThFNzc5N0E3'


def _mapping(slot=3):
    smap = mock.Mock()
    smap.client_adapter.lpar_slot_num = slot
    smap.backing_storage.udid = UDID
    return smap


@mock.patch('time.sleep')
@mock.patch('nova_powervm.virt.powervm.mgmt._write_sysfs')
@mock.patch('glob.glob')
class TestDiscover(test.NoDBTestCase):

    def test_scans_bus_and_finds_device(self, mock_glob, mock_write, _slp):
        scan = '/sys/bus/vio/devices/30000003/host0/scsi_host/host0/scan'
        link = '/dev/disk/by-id/scsi-SIBM_' + UDID[-32:]
        mock_glob.side_effect = [[scan], [], [link]]
        with mock.patch('os.path.realpath', return_value='/dev/sdq'):
            self.assertEqual('/dev/sdq', mgmt.discover_vscsi_disk(_mapping()))
        mock_write.assert_called_once_with(scan, '- - -')
        self.assertEqual(
            mock.call('/sys/bus/vio/devices/30000003/host*/scsi_host/host*/'
                      'scan'), mock_glob.call_args_list[0])
        self.assertEqual(mock.call('/dev/disk/by-id/*' + UDID[-32:]),
                         mock_glob.call_args_list[1])

    def test_timeout(self, mock_glob, mock_write, _slp):
        mock_glob.return_value = []
        with mock.patch('time.monotonic', side_effect=[0, 0, 5, 11]):
            e = self.assertRaises(exc.NoDiskDiscoveryException,
                                  mgmt.discover_vscsi_disk, _mapping(0x2a),
                                  scan_timeout=10)
        self.assertIn('3000002a', str(e))

    def test_ambiguous(self, mock_glob, mock_write, _slp):
        mock_glob.side_effect = [[], ['/dev/disk/by-id/a',
                                      '/dev/disk/by-id/b']]
        self.assertRaises(exc.UniqueDiskDiscoveryException,
                          mgmt.discover_vscsi_disk, _mapping())


@mock.patch('nova_powervm.virt.powervm.mgmt._write_sysfs')
class TestRemoveBlockDev(test.NoDBTestCase):

    def test_regular_file_needs_nothing(self, mock_write):
        path = self.useFixture(fixtures.TempDir()).join('disk')
        with open(path, 'wb'):
            pass
        mgmt.remove_block_dev(path)
        mgmt.remove_block_dev(path + '.missing')
        mock_write.assert_not_called()

    @mock.patch('os.path.exists', return_value=False)
    @mock.patch('os.path.realpath', return_value='/dev/sdq')
    @mock.patch('os.stat')
    def test_block_device_deleted(self, mock_stat, _rp, _ex, mock_write):
        mock_stat.return_value = mock.Mock(st_mode=stat.S_IFBLK | 0o660)
        mgmt.remove_block_dev('/dev/disk/by-id/x')
        mock_write.assert_called_once_with('/sys/block/sdq/device/delete',
                                           '1')


@mock.patch('nova_powervm.virt.powervm.mgmt._write_sysfs')
class TestDiscoverByIdDir(test.NoDBTestCase):
    """[powervm] mgmt_disk_by_id_dir: a simulated host's links to files."""

    def test_globs_option_dir_and_answers_file(self, mock_write):
        tmp = self.useFixture(fixtures.TempDir())
        by_id = tmp.join('by-id')
        os.mkdir(by_id)
        disk = tmp.join('disk.img')
        with open(disk, 'wb') as f:
            f.write(b'boot')
        os.symlink(disk, os.path.join(by_id, 'scsi-SAIX_VDASD_' + UDID))
        self.flags(group='powervm', mgmt_disk_by_id_dir=by_id)
        # nova's test fixture forbids globbing /sys: this host has no vio bus.
        with mock.patch('glob.glob', side_effect=lambda p: [] if p.startswith(
                '/sys/') else list(glob.iglob(p))) as spy:
            path = mgmt.discover_vscsi_disk(_mapping(), scan_timeout=0)
        self.assertEqual(os.path.realpath(disk), path)
        self.assertEqual(mock.call(os.path.join(by_id, '*' + UDID[-32:])),
                         spy.call_args_list[-1])
        mock_write.assert_not_called()
        # The regular file needs no block device removal.
        mgmt.remove_block_dev(path)
        mock_write.assert_not_called()

    def test_default_is_dev_disk_by_id(self, mock_write):
        with mock.patch('glob.glob', return_value=[]) as mock_glob:
            self.assertRaises(exc.NoDiskDiscoveryException,
                              mgmt.discover_vscsi_disk, _mapping(),
                              scan_timeout=0)
        mock_glob.assert_called_with('/dev/disk/by-id/*' + UDID[-32:])
