"""Volume entry points of PowerVMDriver and the connector selection."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import objects
from nova import test
from oslo_serialization import jsonutils
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from taskflow import exceptions as tf_exc
from taskflow.patterns import linear_flow as tf_lf
from taskflow.types import failure

from nova_powervm.tests.virt.powervm.volume import fakes
from nova_powervm.virt.powervm import driver as pvm_driver
from nova_powervm.virt.powervm import driver_volume
from nova_powervm.virt.powervm.tasks import volume as tf_vol
from nova_powervm.virt.powervm.volume import driver as volume_dvr
from nova_powervm.virt.powervm.volume import iscsi
from nova_powervm.virt.powervm.volume import npiv
from nova_powervm.virt.powervm.volume import vscsi

UDID = 'UDID-1'


def conn_info(vol='vol-1', vtype='fibre_channel'):
    return {'driver_volume_type': vtype,
            'data': {'volume_id': vol, 'target_wwn': ['500507680b2155e4'],
                     'target_lun': 1}}


class TestSelection(test.NoDBTestCase):

    def test_strategy(self):
        self.assertIs(vscsi.VscsiVolumeAdapter,
                      volume_dvr.volume_driver_class(conn_info()))
        self.flags(fc_attach_strategy='NPIV', group='powervm')
        self.assertIs(npiv.NPIVVolumeAdapter,
                      volume_dvr.volume_driver_class(conn_info()))
        self.assertEqual(['ViosFCMapping', 'ViosSCSIMapping', 'ViosStorage'],
                         volume_dvr.all_min_xags())

    def test_unsupported_type(self):
        self.assertRaises(nova_exc.VolumeDriverNotFound,
                          volume_dvr.volume_driver_class,
                          conn_info(vtype='sheepdog'))


class TestErrorText(test.NoDBTestCase):

    def _http_error(self, message, status=400):
        resp = mock.Mock(
            status=status, reason='Bad Request', reqmethod='POST',
            body=b'', reqpath='/rest/api/uom/VirtualIOServer/'
            '7DBBE705-E4C4-4458-8223-3EBE07015CA9?group=ViosSCSIMapping')
        exc = pvm_exc.HttpError(resp)
        exc.her_wrap = mock.Mock(message=message) if message else None
        return exc

    def test_rest_message_first(self):
        exc = self._http_error('File /v1 does not exist on Virtual I/O '
                               'Server vios1')
        self.assertEqual('File /v1 does not exist on Virtual I/O Server '
                         'vios1 (HTTP 400 on POST VirtualIOServer)',
                         volume_dvr.error_text(exc))
        # Several VIOSes failed: each one's sentence.
        wrapped = tf_exc.WrappedFailure([
            failure.Failure.from_exception(exc),
            failure.Failure.from_exception(self._http_error(
                'Injected', status=500))])
        self.assertEqual(
            'File /v1 does not exist on Virtual I/O Server vios1 (HTTP 400 '
            'on POST VirtualIOServer); Injected (HTTP 500 on POST '
            'VirtualIOServer)', volume_dvr.error_text(wrapped))

    def test_other_errors_as_they_are(self):
        exc = self._http_error(None)
        self.assertEqual(str(exc), volume_dvr.error_text(exc))
        self.assertIn('HTTP error 400 for method POST', str(exc))
        self.assertEqual('boom', volume_dvr.error_text(ValueError('boom')))


class TestDriverVolumes(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.srv = fakes.FakeVioServer()
        self.drv = pvm_driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = self.srv.adpt
        self.drv.host_uuid = fakes.HOST_UUID
        self.inst = fakes.FakeInstance()
        vscsi._PFC_CACHE.clear()
        self.discover = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.discover_hdisk')).mock
        self.discover.return_value = (tsk_hdisk.LUAStatus.DEVICE_AVAILABLE,
                                      'hdisk9', UDID)
        self.rm_hdisk = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.remove_hdisk')).mock
        iscsi._INITIATOR_CACHE.clear()
        self.initiator = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.hdisk.discover_iscsi_initiator',
            return_value='iqn.1986-03.com.ibm:vios1')).mock

    def test_connector_vscsi(self):
        self.flags(host='cmp1', my_block_storage_ip='10.0.0.5')
        self.flags(volume_use_multipath=True, group='powervm')
        conn = self.drv.get_volume_connector(self.inst)
        self.assertEqual('cmp1', conn['host'])
        self.assertEqual('10.0.0.5', conn['ip'])
        self.assertTrue(conn['multipath'])
        self.assertEqual(sorted(fakes.VIOS1_PORTS + fakes.VIOS2_PORTS),
                         sorted(conn['wwpns']))
        self.assertEqual('iqn.1986-03.com.ibm:vios1', conn['initiator'])
        # The first active VIOS answered; cached for the next call.
        self.assertEqual(1, self.initiator.call_count)
        self.drv.get_volume_connector(self.inst)
        self.assertEqual(1, self.initiator.call_count)

    def test_connector_without_iscsi(self):
        self.initiator.side_effect = pvm_exc.ISCSIDiscoveryFailed(
            vios_uuid='u', status='127')
        conn = self.drv.get_volume_connector(self.inst)
        self.assertNotIn('initiator', conn)
        self.assertTrue(conn['wwpns'])
        # Every VIOS was asked once; the next connector (within a minute)
        # runs no job again.
        self.assertEqual(2, self.initiator.call_count)
        self.assertNotIn('initiator',
                         self.drv.get_volume_connector(self.inst))
        self.assertEqual(2, self.initiator.call_count)
        # After the minute it asks again.
        host, (expiry, iqn) = iscsi._INITIATOR_CACHE.popitem()
        iscsi._INITIATOR_CACHE[host] = (expiry - iscsi._NO_INITIATOR_TTL,
                                        iqn)
        self.initiator.side_effect = None
        self.assertEqual('iqn.1986-03.com.ibm:vios1',
                         self.drv.get_volume_connector(self.inst)[
                             'initiator'])

    def test_connector_initiator_of_next_vios(self):
        # The first VIOS (by ID) fails the job: the next one answers.
        self.initiator.side_effect = [
            pvm_exc.ISCSIDiscoveryFailed(vios_uuid='u', status='5'),
            'iqn.1986-03.com.ibm:vios2']
        conn = self.drv.get_volume_connector(self.inst)
        self.assertEqual('iqn.1986-03.com.ibm:vios2', conn['initiator'])
        self.assertEqual(2, self.initiator.call_count)
        self.assertNotEqual(self.initiator.call_args_list[0][0][1],
                            self.initiator.call_args_list[1][0][1])

    def test_connector_npiv(self):
        self.flags(fc_attach_strategy='npiv', group='powervm')
        self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.vfc_mapper.build_wwpn_pair',
            return_value=['C0507600AAAA0000', 'C0507600AAAA0001']))
        conn = self.drv.get_volume_connector(self.inst)
        self.assertEqual(['c0507600aaaa0000', 'c0507600aaaa0001'],
                         conn['wwpns'])
        self.assertFalse(conn['multipath'])

    def test_attach_detach_extend(self):
        info = conn_info()
        self.drv.attach_volume(None, info, self.inst, '/dev/sdb')
        self.assertEqual(UDID, info['data'][vscsi.UDID_KEY])
        self.assertEqual(2, len(self.srv.posts))
        self.srv.posts = []
        self.drv.extend_volume(None, info, self.inst, 2 ** 31)
        self.assertEqual([], self.srv.posts)
        self.drv.detach_volume(None, info, self.inst, '/dev/sdb')
        self.assertEqual(2, len(self.srv.posts))
        self.assertEqual(2, self.rm_hdisk.call_count)

    def test_attach_failure_is_volume_attach_failed(self):
        self.discover.return_value = (tsk_hdisk.LUAStatus.INCORRECT_ITL,
                                      None, None)
        exc = self.assertRaises(nova_exc.VolumeAttachFailed,
                                self.drv.attach_volume, None, conn_info(),
                                self.inst, '/dev/sdb')
        self.assertIn('vol-1', str(exc))
        self.assertEqual([], self.srv.posts)

    def test_encrypted_volume_refused_first(self):
        self.assertRaises(nova_exc.VolumeEncryptionNotSupported,
                          self.drv.attach_volume, None, conn_info(),
                          self.inst, '/dev/sdb',
                          encryption={'provider': 'luks'})
        self.assertEqual([], self.srv.reads)

    def _bdms(self, *infos):
        bdms = []
        for vol, info in infos:
            bdm = mock.Mock(is_volume=True, volume_id=vol,
                            connection_info=jsonutils.dumps(info))
            bdms.append(bdm)
        return bdms

    def test_last_fc_volume(self):
        self.last = driver_volume.last_fc_volume
        get = self.useFixture(fixtures.MockPatchObject(
            objects.BlockDeviceMappingList, 'get_by_instance_uuid')).mock
        get.return_value = self._bdms(('vol-1', conn_info()))
        self.assertTrue(self.last(None, self.inst, 'vol-1'))
        get.return_value = self._bdms(('vol-1', conn_info()),
                                      ('vol-2', conn_info('vol-2')))
        self.assertFalse(self.last(None, self.inst, 'vol-1'))
        get.side_effect = ValueError
        self.assertFalse(self.last(None, self.inst, 'vol-1'))

    def test_npiv_detach_keeps_adapters_for_other_volumes(self):
        self.flags(fc_attach_strategy='npiv', group='powervm')
        self.useFixture(fixtures.MockPatchObject(
            driver_volume, 'last_fc_volume', return_value=False))
        seen = []
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.volume.npiv.NPIVVolumeAdapter.'
            'disconnect_volume',
            lambda vol_drv: seen.append(vol_drv.last_volume)))
        self.drv.detach_volume(None, conn_info(), self.inst, '/dev/sdb')
        self.assertEqual([False], seen)

    def test_bfv_helpers(self):
        bdm = {'boot_index': 0, 'connection_info': conn_info(),
               'volume_id': 'vol-1'}
        bdi = {'block_device_mapping': [bdm]}
        self.assertTrue(self.drv._is_booted_from_volume(bdi))
        self.assertFalse(self.drv._is_booted_from_volume(
            {'block_device_mapping': [dict(bdm, boot_index=1)]}))
        self.assertFalse(self.drv._is_booted_from_volume(None))
        flow = tf_lf.Flow('f')
        driver_volume.add_connect_tasks(self.drv, flow, self.inst, bdi,
                                        'ftsk')
        tasks = list(flow)
        self.assertIsInstance(tasks[0], tf_vol.AttachVolume)
        self.assertEqual('ftsk', tasks[0].vol_drv.stg_ftsk)
        self.assertIsInstance(tasks[1], tf_vol.SaveBDM)
        flow = tf_lf.Flow('g')
        driver_volume.add_disconnect_tasks(self.drv, flow, self.inst, bdi,
                                           'ftsk')
        self.assertIsInstance(list(flow)[0], tf_vol.DetachVolume)
