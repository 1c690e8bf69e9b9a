"""Unit tests for tasks/media.py: flows with reverts (media mocked)."""
from unittest import mock

import fixtures
from nova import test
from taskflow import engines as tf_eng
from taskflow.patterns import linear_flow as tf_lf
from taskflow import task as tf_task

from nova_powervm.virt.powervm.tasks import media as tf_media


class _Provide(tf_task.Task):
    def __init__(self, name, value):
        super().__init__(name='provide_' + name, provides=name)
        self.value = value

    def execute(self):
        return self.value


class _Fail(tf_task.Task):
    def execute(self):
        raise ValueError('later step failed')


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
            _Provide('mgmt_cna', mock.sentinel.mgmt), self._task()))
        self.assertIs(mock.sentinel.mgmt,
                      self.media.create_cfg_drive.call_args[1]['mgmt_cna'])

    def test_revert_removes_media_and_mapping(self):
        self.assertRaises(ValueError, tf_eng.run, tf_lf.Flow('f').add(
            self._task(), _Fail(name='fail')))
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
