"""Rescue and unrescue through the driver against the simulator.

Real pypowervm over HTTP, localdisk and Shared Storage Pool disks;
assertions read the simulator back: the partition's state, its SCSI
mappings, the rescue disk's bytes, the PowerOn job's boot mode.
"""
from unittest import mock

from nova import exception as nova_exc
from nova.network import model as network_model
from nova import objects

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import vm

RESCUE_IMAGE_SIZE = 2 * 1024 * 1024 + 5


class _RescueCase(base.ClassSimTestCase):
    """One running instance (``inst``) and a rescue image."""

    def setUp(self):
        super().setUp()
        img = self.glance.add_image(RESCUE_IMAGE_SIZE, name='rescue-image',
                                    seed='rescue')
        self.rescue_meta = objects.ImageMeta.from_dict(img)
        self.rescue_id = img['id']
        self.empty = self.sim.inventory()
        self.inst = lc.make_instance(1, image_ref=self.image_id)
        self.drv.spawn(None, self.inst, self.image_meta, [], None, {},
                       network_model.NetworkInfo([]))

    def rescue(self, inst=None, bdi=None):
        self.drv.rescue(None, inst or self.inst, [], self.rescue_meta,
                        'pw', bdi)

    def state(self):
        return vm.get_instance_wrapper(self.drv.adapter, self.inst).state

    def mapped(self, disk_type):
        """Names of the instance's mapped disks of ``disk_type``."""
        return sorted({stg.name for stg, _v in
                       self.drv.disk_dvr.instance_disk_iter(self.inst,
                                                            disk_type)})

    def settle(self):
        """Drop the cached rescue image (the instance's stays)."""
        self.drv.manage_image_cache(None, [self.inst])


class _RescueTests(object):

    def test_rescue_unrescue(self):
        self.settle()
        before = self.sim.inventory()
        boot = self.mapped('boot')
        self.assertEqual(1, len(boot))
        self.rescue()
        # Booted to firmware (PowerOn bootmode=sms) with both disks mapped.
        self.assertEqual('open firmware', self.state())
        self.assertEqual(boot, self.mapped('boot'))
        rescue = self.mapped('rescue')
        self.assertEqual(1, len(rescue))
        self.assertEqual(self.glance.image_digest(self.rescue_id),
                         base.disk_digest(self.sim, rescue[0],
                                          RESCUE_IMAGE_SIZE))

        self.drv.unrescue(None, self.inst)
        self.assertEqual('running', self.state())
        self.assertEqual([], self.mapped('rescue'))
        self.assertEqual(boot, self.mapped('boot'))
        self.settle()
        self.assertInventory(before)

    def test_rescue_of_stopped_instance(self):
        self.drv.power_off(self.inst)
        self.rescue()
        self.assertEqual('open firmware', self.state())
        self.assertEqual(1, len(self.mapped('rescue')))

    def test_not_rescuable_states_change_nothing(self):
        self.rescue()
        before = self.sim.inventory()
        self.sim.clear_request_log()
        # Already in firmware (rescued): neither stopped nor running.
        ex = self.assertRaises(nova_exc.InstanceNotRescuable, self.rescue)
        self.assertIn('open firmware', str(ex))
        bdi = {'block_device_mapping': [{'boot_index': 0,
                                         'connection_info': {}}]}
        self.assertRaises(nova_exc.InstanceNotRescuable, self.rescue,
                          bdi=bdi)
        self.assertInventory(before)
        self.assertEqual([], [r for r in self.requests() if r[0] != 'GET'])

    def test_destroy_while_rescued_removes_both_disks(self):
        self.rescue()
        self.drv.destroy(None, self.inst, [])
        self.assertFalse(self.drv.instance_exists(self.inst))
        self.drv.manage_image_cache(None, [])
        self.assertInventory(self.empty)

    def test_failed_rescue_power_on_reverts(self):
        self.settle()
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path=r'/do/PowerOn$', nth=1,
                              job_failure=True)
        self.assertRaises(nova_exc.NovaException, self.rescue)
        self.sim.clear_faults()
        # Powered on again (it was running), rescue disk gone.
        self.assertEqual('running', self.state())
        self.assertEqual([], self.mapped('rescue'))
        self.settle()
        self.assertInventory(before)

    def test_failed_unrescue_stays_rescued(self):
        self.rescue()
        before = self.sim.inventory()
        self.sim.inject_fault(method='PUT', path=r'/do/PowerOn$', nth=1,
                              job_failure=True)
        with mock.patch.object(self.drv.disk_dvr, 'delete_disks',
                               wraps=self.drv.disk_dvr.delete_disks) as dd:
            self.assertRaises(nova_exc.NovaException, self.drv.unrescue,
                              None, self.inst)
        dd.assert_not_called()
        self.sim.clear_faults()
        self.assertEqual('open firmware', self.state())
        self.assertInventory(before)


class TestRescueLocalDisk(_RescueTests, _RescueCase):
    pass


class TestRescueSSP(_RescueTests, _RescueCase):
    disk_driver = 'ssp'
