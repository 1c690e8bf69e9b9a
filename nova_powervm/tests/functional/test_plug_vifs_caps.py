"""plug_vifs at start-up, capabilities and refused images, on the simulator.

nova-compute calls ``plug_vifs`` for every instance of the host when it
starts (e.g. after a host reboot): adapters already there are left alone,
missing ones come back.  ``capabilities`` must say what the configured disk
driver really boots.
"""
from nova import exception as nova_exc
from nova.network import model as network_model
from nova import objects
from nova.virt import driver as nova_driver

from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm.disk import localdisk
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import vif


def _mutations(reqs):
    return [(m, p) for m, p in reqs if m not in ('GET', 'HEAD')]


def _no_vlan_vif(n):
    one = lc.sea_vif(n, 100)
    one['details'] = {}
    return one


class TestPlugVifs(lc.SimDriverTestCase):

    def setUp(self):
        super().setUp()
        # Request logs without the event listener.
        self.drv.cleanup_host('compute1')
        self.inst = lc.make_instance(1)
        self.inst.task_state = None
        self.create_partition(self.inst)

    def _pvids(self):
        return {c.mac: (c.pvid, c.uuid) for c in self.cnas(self.inst)}

    def test_replugs_missing_leaves_present(self):
        vif.plug_vifs(self.drv.adapter, self.inst, [lc.sea_vif(1, 101)])
        before = self._pvids()
        self.assertEqual(1, len(before))

        nwinfo = network_model.NetworkInfo([lc.sea_vif(1, 101),
                                            lc.sea_vif(2, 102)])
        _, reqs = self.requests(self.drv.plug_vifs, self.inst, nwinfo)
        after = self._pvids()
        # The present adapter is the same object; the missing one is new.
        self.assertEqual(before['FA163E000001'], after['FA163E000001'])
        self.assertEqual(102, after['FA163E000002'][0])
        # VLAN 102 is new on the SEA (bridge POST), then the adapter PUT.
        self.assertEqual(['POST', 'PUT'],
                         [m for m, _p in _mutations(reqs)], reqs)

        # Idempotent: nothing missing, nothing written.
        _, reqs = self.requests(self.drv.plug_vifs, self.inst, nwinfo)
        self.assertEqual([], _mutations(reqs), reqs)
        self.assertEqual(after, self._pvids())

    def test_replugs_rmc_management_adapter(self):
        self.flags(group='powervm', use_rmc_mgmt_vif=True)
        self.drv.plug_vifs(self.inst, [lc.sea_vif(1, 101)])
        vsws = {c.mac: c.pvid for c in self.cnas(self.inst)}
        self.assertEqual([101, vif.SECURE_RMC_VLAN], sorted(vsws.values()))
        _, reqs = self.requests(self.drv.plug_vifs, self.inst,
                                [lc.sea_vif(1, 101)])
        self.assertEqual([], _mutations(reqs), reqs)

    def test_missing_partition_is_left_alone(self):
        other = lc.make_instance(2)
        before = self.sim.inventory()
        _, reqs = self.requests(self.drv.plug_vifs, other,
                                [lc.sea_vif(1, 101)])
        self.assertEqual(1, len(reqs), reqs)
        self.assertEqual(before, self.sim.inventory())

    def test_invalid_vif_refused_before_any_change(self):
        before = self.sim.inventory()
        ex = self.assertRaises(nova_exc.VirtualInterfacePlugException,
                               self.drv.plug_vifs, self.inst,
                               [lc.sea_vif(1, 101), _no_vlan_vif(2)])
        self.assertIn('needs a VLAN', str(ex))
        self.assertEqual(before, self.sim.inventory())

    def test_failure_reverts_what_it_plugged(self):
        # PlugVifs' revert: the adapter this call created goes again, the
        # one that was there stays.
        self.flags(group='powervm', use_rmc_mgmt_vif=True)
        vif.plug_vifs(self.drv.adapter, self.inst, [lc.sea_vif(1, 101)])
        before = self._pvids()
        # The RMC adapter (after the two data VIFs) cannot be created.
        self.sim.inject_fault(method='PUT', path='ClientNetworkAdapter',
                              nth=3, status=500)
        ex = self.assertRaises(
            nova_exc.VirtualInterfacePlugException, self.drv.plug_vifs,
            self.inst, [lc.sea_vif(1, 101), lc.sea_vif(2, 102),
                        lc.sea_vif(3, 103)])
        self.assertIn('plug_mgmt_vif', str(ex))
        self.assertEqual(before, self._pvids())


class _CapsTestCase(lc.SimDriverTestCase):

    real_disk = True

    def _true(self):
        return sorted(k for k, v in self.drv.capabilities.items() if v)

    def _qcow2_image(self):
        return objects.ImageMeta.from_dict(dict(
            self.glance.add_image(1024, name='q'), disk_format='qcow2'))


class TestCapabilities(_CapsTestCase):
    """What init_host advertises for a logical volume group."""

    def test_logical_volume_group_boots_raw_only(self):
        self.assertEqual(['has_imagecache', 'supports_attach_interface',
                          'supports_evacuate', 'supports_extend_volume',
                          'supports_image_type_raw'], self._true())
        # Every key nova knows is answered.
        self.assertEqual(set(nova_driver.ComputeDriver.capabilities),
                         set(self.drv.capabilities))
        # The class stays as declared.
        self.assertFalse(driver.PowerVMDriver.capabilities['has_imagecache'])

    def test_qcow2_spawn_refused_before_any_request(self):
        meta = self._qcow2_image()
        inst = lc.make_instance(1, image_ref=meta.id)
        before = self.sim.inventory()
        self.sim.clear_request_log()
        ex = self.assertRaises(nova_exc.ImageUnacceptable, self.drv.spawn,
                               None, inst, meta, [], None, {}, [])
        self.assertIn(localdisk.FILE_BACKED_VG, str(ex))
        self.assertEqual([], _mutations(lc.non_event(
            self.sim.request_log())))
        self.assertEqual(before, self.sim.inventory())

    def test_ibmi_spawn_refused_before_any_request(self):
        img = self.glance.add_image(1024, name='ibmi', os_distro='ibmi')
        meta = objects.ImageMeta.from_dict(img)
        inst = lc.make_instance(1, image_ref=meta.id)
        before = self.sim.inventory()
        self.sim.clear_request_log()
        ex = self.assertRaises(exc.IBMiNotSupported, self.drv.spawn,
                               None, inst, meta, [], None, {}, [])
        self.assertIn('IBM i', str(ex))
        self.assertEqual([], lc.non_event(self.sim.request_log()))
        self.assertEqual(before, self.sim.inventory())


class TestCapabilitiesFileBacked(_CapsTestCase):
    """``QCOW VG - default``: qcow2 images boot too."""

    def _pick_vg(self):
        return localdisk.FILE_BACKED_VG

    def test_file_backed_boots_qcow2(self):
        self.assertEqual(['has_imagecache', 'supports_attach_interface',
                          'supports_evacuate', 'supports_extend_volume',
                          'supports_image_type_qcow2',
                          'supports_image_type_raw'], self._true())
        meta = self._qcow2_image()
        inst = lc.make_instance(1, image_ref=meta.id)
        self.drv.spawn(None, inst, meta, [], None, {}, [])
        disk = self.drv.disk_dvr.get_bootdisk_storage(inst)
        self.assertEqual('qcow2', disk.file_format)
        self.assertEqual('running', self.lpar(inst).state)
