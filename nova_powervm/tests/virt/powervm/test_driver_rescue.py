"""Unit tests: the rescue / unrescue flows (driver_rescue)."""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test

from nova_powervm.virt.powervm import driver_rescue
from nova_powervm.virt.powervm import exception as exc


class TestRescue(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.drv = mock.Mock()
        self.inst = mock.Mock(uuid='inst-uuid')
        self.lpar = mock.Mock(state='running')
        self.get = self.useFixture(fixtures.MockPatchObject(
            driver_rescue.vm, 'get_instance_wrapper',
            return_value=self.lpar)).mock
        self.run = self.useFixture(fixtures.MockPatchObject(
            driver_rescue.tf_base, 'run')).mock

    def _tasks(self):
        flow = self.run.call_args[0][0]
        return list(flow)

    def test_rescue_flow(self):
        driver_rescue.rescue(self.drv, 'ctx', self.inst, 'img')
        self.drv.disk_dvr.check_image.assert_called_once_with('img')
        off, create, attach, ftsk, pwr_on = self._tasks()
        self.assertTrue(off.restore_on_revert)
        self.assertEqual('rescue', create.disk_type)
        self.assertEqual('img', create.image_meta)
        self.assertEqual('rescue', attach.disk_type)
        self.assertIs(self.drv._vios_feed_task.return_value, ftsk)
        self.assertIs(ftsk, attach.stg_ftsk)
        # Firmware SMS boot: the PowerOn job gets bootmode=sms.
        self.assertEqual('PowerOn(bootmode=sms)',
                         str(pwr_on.opts))
        kwargs = self.run.call_args[1]
        # No shared wrapper: it would be stale for the power on.
        self.assertNotIn('store', kwargs)
        self.assertIs(exc.RescueTaskFailed, kwargs['exc_class'])

    def test_rescue_from_stopped(self):
        self.lpar.state = 'not activated'
        driver_rescue.rescue(self.drv, 'ctx', self.inst, 'img')
        self.run.assert_called_once()

    def test_not_rescuable(self):
        for state in ('open firmware', 'migrating running', 'error',
                      'starting'):
            self.lpar.state = state
            ex = self.assertRaises(nova_exc.InstanceNotRescuable,
                                   driver_rescue.rescue, self.drv, 'ctx',
                                   self.inst, 'img')
            self.assertIn(state, str(ex))
        self.assertRaises(nova_exc.InstanceNotRescuable, driver_rescue.rescue,
                          self.drv, 'ctx', self.inst, 'img',
                          boot_from_volume=True)
        self.run.assert_not_called()
        self.drv._vios_feed_task.assert_not_called()

    def test_bad_image_refused_first(self):
        self.drv.disk_dvr.check_image.side_effect = (
            nova_exc.ImageUnacceptable(image_id='i', reason='vmdk'))
        self.assertRaises(nova_exc.ImageUnacceptable, driver_rescue.rescue,
                          self.drv, 'ctx', self.inst, 'img')
        self.get.assert_not_called()
        self.run.assert_not_called()

    def test_unrescue_flow(self):
        driver_rescue.unrescue(self.drv, self.inst)
        off, detach, pwr_on, delete = self._tasks()
        self.assertTrue(off.restore_on_revert)
        self.assertEqual('PowerOn(bootmode=sms)',
                         str(off.revert_opts))
        self.assertEqual(('rescue',), detach.disk_types)
        self.assertTrue(detach.remap_on_revert)
        self.assertIsNone(pwr_on.opts)
        self.assertEqual('delete_disk', delete.name)
        self.assertIs(exc.UnrescueTaskFailed,
                      self.run.call_args[1]['exc_class'])
