"""Boot from Cinder FC volumes (spawn/destroy) against the REST simulator.

The real driver (``init_host`` done, shared per-class simulator) spawns and
destroys partitions whose disks are volumes; assertions compare the
simulator's whole inventory before and after.
"""
# nova's concurrency set-up (eventlet monkey patching) must come before
# anything imports sockets or urllib3, as in nova's own functional tests.
from nova import monkey_patch
monkey_patch.patch()

from nova.compute import task_states  # noqa: E402
from nova import exception as nova_exc  # noqa: E402
from nova import objects  # noqa: E402
from pypowervm.wrappers import virtual_io_server as pvm_vios  # noqa: E402

from nova_powervm.tests.functional import base as fbase  # noqa: E402
from nova_powervm.tests.functional import test_volumes as tv  # noqa: E402
from nova_powervm.virt.powervm import vm  # noqa: E402
from nova_powervm.virt.powervm.volume import npiv  # noqa: E402
from nova_powervm.virt.powervm.volume import vscsi  # noqa: E402

FakeBDM = tv.FakeBDM
_conn_info = tv._conn_info
_XAGS = tv._XAGS


def _bfv_instance(n):
    inst = tv._instance(n)
    inst.update({'hostname': 'volvm%d' % n, 'node': 'compute1',
                 'project_id': 'p', 'user_id': 'u',
                 'task_state': task_states.SPAWNING, 'config_drive': '',
                 'launched_at': None, 'key_data': None,
                 'availability_zone': None, 'vm_state': 'building'})
    inst.flavor.update({'name': 'm1.pvm', 'flavorid': '42'})
    return inst


def _bdi(*bdms):
    return {'block_device_mapping': list(bdms), 'root_device_name': '/dev/sda'}


class TestBootFromVolume(fbase.ClassSimTestCase):
    """spawn/destroy with Cinder volumes (vSCSI and NPIV)."""

    def pv_maps(self, inst):
        return tv.VolumeSimTestBase.pv_maps(self, inst)

    def vioses(self):
        return pvm_vios.VIOS.get(self.drv.adapter, xag=_XAGS)

    def hdisks(self, udid):
        return tv.VolumeSimTestBase.hdisks(self, udid)

    def vfc_wwpns(self, inst):
        return tv.VolumeSimTestBase.vfc_wwpns(self, inst)

    def spawn(self, inst, bdi):
        self.drv.spawn(None, inst, objects.ImageMeta.from_dict({}), [],
                       None, {}, [], block_device_info=bdi)

    def test_vscsi_boot_and_data_volume(self):
        before = self.sim.inventory()
        inst = _bfv_instance(1)
        boot = FakeBDM(boot_index=0, volume_id='vol-boot',
                       connection_info=_conn_info('vol-boot', 1))
        data = FakeBDM(boot_index=-1, volume_id='vol-data',
                       connection_info=_conn_info('vol-data', 2))
        self.sim.clear_request_log()
        self.spawn(inst, _bdi(boot, data))
        posts = [r for r in self.sim.request_log()
                 if r['method'] == 'POST' and 'VirtualIOServer' in r['path']]
        # Both volumes (and nothing else) on each VIOS in one POST each.
        self.assertEqual(2, len(posts))
        self.assertEqual('running', vm.get_instance_wrapper(
            self.drv.adapter, inst).state)
        maps = self.pv_maps(inst)
        self.assertEqual(2, len(maps))
        for names in maps.values():
            self.assertEqual(2, len(names))
        # The hdisk UDIDs were saved in the BDMs.
        udids = [b['connection_info']['data'][vscsi.UDID_KEY]
                 for b in (boot, data)]
        self.assertEqual([1, 1], [boot.saved, data.saved])
        self.drv.destroy(None, inst, [], block_device_info=_bdi(boot, data))
        for udid in udids:
            self.assertEqual({}, self.hdisks(udid))
        self.assertInventory(before)

    def test_vscsi_boot_failure_leaves_nothing(self):
        before = self.sim.inventory()
        inst = _bfv_instance(1)
        boot = FakeBDM(boot_index=0, volume_id='vol-boot',
                       connection_info=_conn_info('vol-boot', 1))
        self.sim.inject_fault(method='PUT', path='PowerOn|do/PowerOn',
                              job_failure=True)
        self.assertRaises(nova_exc.NovaException, self.spawn, inst,
                          _bdi(boot))
        self.assertInventory(before)

    def test_vscsi_mapping_post_failure_leaves_nothing(self):
        before = self.sim.inventory()
        inst = _bfv_instance(1)
        boot = FakeBDM(boot_index=0, volume_id='vol-boot',
                       connection_info=_conn_info('vol-boot', 1))
        vios2 = sorted(self.sim.vios_uuids)[1]
        # Every try fails: a lone change whose POST may have been made is
        # retried once on a fresh read (batch.py), so one 500 is not enough.
        self.sim.inject_fault(method='POST', path='VirtualIOServer/%s' % vios2,
                              times=10)
        self.assertRaises(nova_exc.NovaException, self.spawn, inst,
                          _bdi(boot))
        self.sim.clear_faults()
        self.assertInventory(before)

    def test_vscsi_boot_http500_at_every_request(self):
        """A failed BFV spawn leaves nothing; a good one destroys clean."""
        fired = 0
        for n in range(1, 60):
            self.sim.reset()
            self._clear_caches()
            self.drv = self.new_driver()
            before = self.sim.inventory()
            inst = _bfv_instance(1)
            boot = FakeBDM(boot_index=0, volume_id='vol-boot',
                           connection_info=_conn_info('vol-boot', 1))
            self.sim.inject_fault(nth=n, status=500)
            try:
                self.spawn(inst, _bdi(boot))
                failed = False
            except nova_exc.NovaException:
                failed = True
            if self.sim.faults.list():
                break
            fired += 1
            if not failed:
                self.drv.destroy(None, inst, [],
                                 block_device_info=_bdi(boot))
            self.assertInventory(before, msg='fault at request %d' % n)
        self.assertGreater(fired, 10)

    def test_npiv_boot(self):
        self.flags(fc_attach_strategy='npiv', group='powervm')
        npiv.fabric_names()
        before = self.sim.inventory()
        inst = _bfv_instance(1)
        conn = self.drv.get_volume_connector(inst)
        boot = FakeBDM(boot_index=0, volume_id='vol-boot',
                       connection_info=_conn_info('vol-boot', 1))
        self.spawn(inst, _bdi(boot))
        self.assertEqual([frozenset(w.upper() for w in conn['wwpns'])],
                         self.vfc_wwpns(inst))
        self.drv.destroy(None, inst, [], block_device_info=_bdi(boot))
        self.assertInventory(before)
