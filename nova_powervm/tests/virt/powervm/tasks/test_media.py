"""Unit tests for tasks/media.py: flows with reverts (media mocked)."""
from unittest import mock

import fixtures
from nova import test
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf

from nova_powervm.tests.virt.powervm.tasks import fakes
from nova_powervm.virt.powervm.tasks import media as tf_media


class TestCfgDriveTasks(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.media = self.useFixture(fixtures.MockPatchObject(
            tf_media, 'media', autospec=True)).mock
        self.inst = mock.Mock()

    def _task(self):
        return tf_media.CreateAndConnectCfgDrive(
            'adpt', self.inst, ['files'], ['nw'], 'ftsk', admin_pass='pw')

    def test_create_without_mgmt_cna(self):
        tf_eng.run(tf_lf.Flow('f').add(self._task()))
        self.media.create_cfg_drive.assert_called_once_with(
            'adpt', self.inst, ['files'], ['nw'], stg_ftsk='ftsk',
            admin_pass='pw', mgmt_cna=None)

    def test_create_uses_mgmt_cna_when_provided(self):
        tf_eng.run(tf_lf.Flow('f').add(
            fakes.Provide('mgmt_cna', mock.sentinel.mgmt), self._task()))
        self.assertIs(mock.sentinel.mgmt,
                      self.media.create_cfg_drive.call_args[1]['mgmt_cna'])

    def test_revert_removes_media_and_mapping(self):
        self.assertRaises(ValueError, tf_eng.run, tf_lf.Flow('f').add(
            self._task(), fakes.Fail(name='fail')))
        self.media.delete_cfg_drive.assert_called_once_with('adpt',
                                                            self.inst)

    def test_failed_create_does_not_revert_again(self):
        self.media.create_cfg_drive.side_effect = ValueError('boom')
        self.assertRaises(ValueError, tf_eng.run,
                          tf_lf.Flow('f').add(self._task()))
        self.assertFalse(self.media.delete_cfg_drive.called)

    def test_delete(self):
        tf_eng.run(tf_lf.Flow('f').add(
            tf_media.DeleteVOpt('adpt', self.inst, stg_ftsk='ftsk')))
        self.media.delete_cfg_drive.assert_called_once_with(
            'adpt', self.inst, stg_ftsk='ftsk')
