"""Rebuild and evacuate with slot maps, driver level, two simulated hosts.

The driver calls are the ones nova's default rebuild makes: same host,
destroy (task state rebuilding) then spawn (rebuild_spawning); evacuation,
spawn on the target (rebuild_spawning) and, when the source is back, destroy
there with ``destroy_disks`` from nova's shared storage check.  Each test
checks both hosts' simulator state: the recreated partition's client slots
(network adapters and virtual SCSI), the disks, and the source cleaned.
"""
from unittest import mock

import fixtures
from nova.compute import task_states
from nova.network import model as network_model
from nova import objects
from nova import test

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import slot_map

VIFS = [lc.sea_vif(1, 100), lc.sea_vif(2, 101)]


class _TwoHosts(base.InventoryAssertions, test.NoDBTestCase):
    """Two simulated hosts (one SSP cluster), a driver on each."""

    disk_driver = 'ssp'

    def setUp(self):
        super().setUp()
        mgmt._reset_cache()
        self.addCleanup(mgmt._reset_cache)
        self.fx = self.useFixture(sim_fixture.SimulatorFixture(
            hosts=2, power_delay_s=0.0, event_hold_s=0.2))
        base.use_slot_map_dir(self)
        self.flags(group='powervm', slot_map_store='local')
        self.flags(group='powervm', use_rmc_mgmt_vif=False,
                   disk_driver=self.disk_driver, volume_group_name='datavg')
        self.glance = self.useFixture(
            pvm_fixtures.StreamingGlanceFixture(self))
        img = self.glance.add_image(base.IMAGE_SIZE, name='rb-image')
        self.image_meta = objects.ImageMeta.from_dict(img)
        self.useFixture(fixtures.MockPatchObject(
            pvm_event, 'start_listener', return_value=None))
        self.drvs = [self._driver(i) for i in range(2)]
        self.inst = lc.make_instance(1, image_ref=img['id'])
        self.vifs = network_model.NetworkInfo(VIFS)

    def _driver(self, index):
        self.flags(group='powervm', **self.fx.flags_for_conf(index))
        drv = driver.PowerVMDriver(mock.Mock())
        drv.init_host('compute%d' % (index + 1))
        self.addCleanup(drv.adapter.session._logoff)
        return drv

    def spawn(self, index, task_state=task_states.SPAWNING):
        self.inst.task_state = task_state
        self.drvs[index].spawn(None, self.inst, self.image_meta, [], None,
                               {}, self.vifs)

    def destroy(self, index, task_state, **kwargs):
        self.inst.task_state = task_state
        self.drvs[index].destroy(None, self.inst, self.vifs, **kwargs)

    def spawn_off_default_slots(self):
        """Spawn on host 1 and detach the first VIF.

        The second VIF and the disk then sit above a free slot, where a
        partition made afresh would not put them.
        """
        self.spawn(0)
        self.fx.sims[0].set_rmc(ids.pvm_uuid(self.inst), active=True)
        self.drvs[0].detach_interface(None, self.inst, VIFS[0])
        self.vifs = network_model.NetworkInfo(VIFS[1:])
        before = self.slots(0)
        self.assertNotIn(3, before[0].values())
        self.assertEqual(1, len(before[0]))
        self.assertTrue(before[1])
        self.assertTrue(self.has_map())
        return before

    def slots(self, index):
        """({MAC: client slot}, sorted (storage type, client slot)).

        The instance's adapters on host ``index`` (config drive media
        aside: they are not kept).
        """
        inv = self.fx.sims[index].inventory()
        uuid = ids.pvm_uuid(self.inst)
        cnas = {a['mac']: a['slot'] for a in inv['client_adapters'].values()
                if a['partition'] == uuid}
        scsi = sorted((m['storage_type'], m['client_slot'])
                      for m in inv['scsi_mappings'] if m['client'] == uuid)
        return cnas, scsi

    def lus(self):
        """{name: UDID} of the instance LUs (not images) in the pool."""
        return {xu.text(lu, 'UnitName'): xu.text(lu, 'UniqueDeviceID')
                for lu in self.fx.sims[0].objects('LogicalUnit')
                if xu.text(lu, 'LogicalUnitType') == 'VirtualIO_Disk'}

    def has_map(self):
        return slot_map.LocalSlotMapStore(self.inst.uuid).topology != {}


class TestSSP(_TwoHosts):

    def test_evacuate_rebuild_delete(self):
        before = self.spawn_off_default_slots()
        lus = self.lus()
        self.assertEqual(1, len(lus))

        # Evacuation: host 2 (the target) sees the LU.
        self.assertTrue(self.drvs[1].instance_on_disk(self.inst))
        self.spawn(1, task_states.REBUILD_SPAWNING)
        self.assertEqual(before, self.slots(1))
        # The LU was reattached, not recreated.
        self.assertEqual(lus, self.lus())

        # The source is back: nova destroys there, without the disks.
        data = self.drvs[0].check_instance_shared_storage_local(
            None, self.inst)
        self.assertTrue(self.drvs[1].check_instance_shared_storage_remote(
            None, data))
        self.inst.host = 'compute2'
        self.destroy(0, None, destroy_disks=False)
        self.assertEqual(({}, []), self.slots(0))
        self.assertEqual(lus, self.lus())
        self.assertTrue(self.has_map())

        # Rebuild on host 2: a new LU from the image, the same slots.
        self.destroy(1, task_states.REBUILDING)
        self.assertEqual({}, self.lus())
        self.assertTrue(self.has_map())
        self.spawn(1, task_states.REBUILD_SPAWNING)
        self.assertEqual(before, self.slots(1))
        self.assertEqual(1, len(self.lus()))

        self.destroy(1, task_states.DELETING)
        self.assertEqual({}, self.lus())
        self.assertFalse(self.has_map())
        self.assertEqual(({}, []), self.slots(1))


class TestLocalDisk(_TwoHosts):

    disk_driver = 'localdisk'

    def test_evacuate_from_image_keeps_slots(self):
        before = self.spawn_off_default_slots()
        # The disk is on host 1's volume group: nova evacuates from image.
        self.assertFalse(self.drvs[1].instance_on_disk(self.inst))
        data = self.drvs[0].check_instance_shared_storage_local(
            None, self.inst)
        self.assertFalse(self.drvs[1].check_instance_shared_storage_remote(
            None, data))
        self.spawn(1, task_states.REBUILD_SPAWNING)
        self.assertEqual(before, self.slots(1))
        # The source deletes its local disk, keeps the slot map.
        self.inst.host = 'compute2'
        self.destroy(0, None, destroy_disks=True)
        self.assertEqual(({}, []), self.slots(0))
        vgs = self.fx.sims[0].inventory()['volume_groups']
        self.assertEqual([], [d for d in vgs['vios1/datavg']['virtual_disks']
                              if d.startswith('b_')])
        self.assertTrue(self.has_map())
