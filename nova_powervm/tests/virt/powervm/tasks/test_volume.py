"""Volume tasks: execute calls the connector, revert undoes it."""
from unittest import mock

from nova import test
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.tests.virt.powervm.tasks import fakes
from nova_powervm.virt.powervm.tasks import volume as tf_vol


class TestVolumeTasks(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.vol_drv = mock.Mock(volume_id='vol-1', stg_ftsk='ftsk')

    def run_flow(self, *tasks):
        flow = tf_lf.Flow('f')
        flow.add(*tasks)
        tf_eng.run(flow)

    def test_attach(self):
        self.run_flow(tf_vol.AttachVolume(self.vol_drv))
        self.vol_drv.connect_volume.assert_called_once_with()
        self.vol_drv.revert_connect.assert_not_called()

    def test_attach_reverted_when_a_later_step_fails(self):
        self.assertRaises(ValueError, self.run_flow,
                          tf_vol.AttachVolume(self.vol_drv), fakes.Fail())
        self.vol_drv.revert_connect.assert_called_once_with()

    def test_attach_reverted_when_it_fails(self):
        self.vol_drv.connect_volume.side_effect = ValueError('x')
        self.assertRaises(ValueError, self.run_flow,
                          tf_vol.AttachVolume(self.vol_drv))
        self.vol_drv.revert_connect.assert_called_once_with()

    def test_detach_and_reconnect_on_failure(self):
        self.run_flow(tf_vol.DetachVolume(self.vol_drv))
        self.vol_drv.disconnect_volume.assert_called_once_with()
        self.vol_drv.connect_volume.assert_not_called()
        self.assertRaises(ValueError, self.run_flow,
                          tf_vol.DetachVolume(self.vol_drv), fakes.Fail())
        # Reconnected in its own transaction (the shared one has run).
        self.vol_drv.connect_volume.assert_called_once_with()
        self.assertIsNone(self.vol_drv.stg_ftsk)

    def test_detach_revert_swallows_reconnect_error(self):
        self.vol_drv.connect_volume.side_effect = ValueError('no')
        self.assertRaises(ValueError, self.run_flow,
                          tf_vol.DetachVolume(self.vol_drv), fakes.Fail())
        self.assertEqual(
            'later step failed',
            str(self.assertRaises(ValueError, self.run_flow,
                                  tf_vol.DetachVolume(self.vol_drv),
                                  fakes.Fail())))

    def test_extend_and_save_bdm(self):
        bdm = mock.MagicMock()
        bdm.get.return_value = 'vol-1'
        self.run_flow(tf_vol.ExtendVolume(self.vol_drv),
                      tf_vol.SaveBDM(bdm, mock.Mock()))
        self.vol_drv.extend_volume.assert_called_once_with()
        bdm.save.assert_called_once_with()
