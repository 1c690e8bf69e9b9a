"""init_host on a host that is starting: slow VIOSes, stale mappings, HMC.

The real driver and pypowervm against a fresh simulator per test.
"""
import threading
import time
from unittest import mock

import fixtures
from nova import test
from pypowervm.tasks import scsi_mapper
from pypowervm.tasks import storage as pvm_stor
from pypowervm.utils import lpar_builder as lb

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests.functional import base
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import mgmt
from nova_powervm.virt.powervm import session


class _StartupTestCase(base.InventoryAssertions, test.NoDBTestCase):

    sim_kwargs = {}

    def setUp(self):
        super().setUp()
        mgmt._reset_cache()
        self.addCleanup(mgmt._reset_cache)
        self.fx = self.useFixture(sim_fixture.SimulatorFixture(
            power_delay_s=0.0, event_hold_s=0.2, **self.sim_kwargs))
        self.sim = self.fx.sim
        self.flags(group='powervm', **self.fx.flags_for_conf())
        self.flags(group='powervm', conn_tries=1, volume_group_name='datavg',
                   vios_active_wait_timeout=60)
        self.useFixture(fixtures.MockPatchObject(
            pvm_event, 'start_listener', return_value=None))
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.addCleanup(self._shutdown)

    def _shutdown(self):
        if self.drv.adapter is not None:
            self.drv.cleanup_host('compute1')
            self.drv.adapter.session._logoff()

    def vios_gets(self):
        return [r for r in self.sim.request_log()
                if (r['method'], r['path'].rsplit('/', 1)[-1]) ==
                ('GET', 'VirtualIOServer')]


class TestSlowVioses(_StartupTestCase):

    # As after a host reboot: the REST server answers, the VIOSes boot.
    sim_kwargs = {'vios_boot_s': 1.0, 'vios_rmc_s': 1.0}

    def test_init_host_waits_for_the_vioses(self):
        start = time.monotonic()
        self.drv.init_host('compute1')
        self.assertGreater(time.monotonic() - start, 2.0)
        parts = self.sim.inventory()['partitions']
        self.assertEqual(
            [('running', 'active')] * 2,
            [(p['state'], p['rmc']) for p in parts.values()
             if p['type'] == 'VirtualIOServer'])
        # It polled until they were up, then carried on.
        self.assertGreaterEqual(len(self.vios_gets()), 2)
        self.assertEqual(self.sim.host_uuid, self.drv.host_uuid)
        self.assertTrue(self.drv.disk_dvr)


class TestViosNeverUp(_StartupTestCase):

    def test_no_active_vios_after_the_timeout(self):
        self.sim.reboot_host(vios_boot_s=None)
        before = self.sim.inventory()
        self.flags(group='powervm', vios_active_wait_timeout=0)
        err = self.assertRaises(exc.NoActiveVios, self.drv.init_host,
                                'compute1')
        self.assertIn('vios_active_wait_timeout = 0 seconds', str(err))
        self.assertInventory(before)
        self.assertEqual([], [r for r in self.sim.request_log()
                              if r['method'] in ('POST', 'DELETE')])

    def test_rmc_never_active_waits_the_timeout(self):
        self.sim.reboot_host(vios_boot_s=0, vios_rmc_s=None)
        self.flags(group='powervm', vios_active_wait_timeout=5)
        start = time.monotonic()
        self.assertRaises(exc.NoActiveVios, self.drv.init_host, 'compute1')
        self.assertGreaterEqual(time.monotonic() - start, 5.0)
        self.assertGreaterEqual(len(self.vios_gets()), 2)


class TestRestServerStarting(_StartupTestCase):

    def test_conn_tries_cover_a_rest_server_still_starting(self):
        self.sim.stop()
        starter = threading.Timer(2.5, self.sim.start)
        starter.start()
        self.addCleanup(starter.cancel)
        self.flags(group='powervm', conn_tries=10)
        self.drv.init_host('compute1')
        self.assertEqual(self.sim.host_uuid, self.drv.host_uuid)


class TestHmcRefused(_StartupTestCase):

    sim_kwargs = {'mc_type': 'HMC'}

    def test_init_host_refuses_an_hmc(self):
        err = self.assertRaises(exc.NotNovaLink, self.drv.init_host,
                                'compute1')
        self.assertIn('management console type HMC', str(err))
        self.assertIn('%s:%s' % (self.sim.host, self.sim.port), str(err))
        # Only the logon reached it.
        self.assertEqual([('PUT', '/rest/api/web/Logon')],
                         [(r['method'], r['path'])
                          for r in self.sim.request_log()])
        self.drv.adapter.session._logoff()
        self.drv.adapter = None

    def test_local_logon_to_an_hmc_refused(self):
        # NovaLink's file-based logon answered by an HMC: pypowervm itself
        # refuses the session; the driver names the cause.
        self.flags(group='powervm', password=None)
        err = self.assertRaises(exc.NotNovaLink, self.drv.init_host,
                                'compute1')
        self.assertIn('Local authentication not supported on HMC', str(err))
        self.assertIn('HMC is not supported', str(err))
        self.assertIsNone(self.drv.adapter)


class TestScrubAtStartup(_StartupTestCase):

    def _lpar(self, adapter, host_w, name):
        bldr = lb.LPARBuilder(adapter, {'name': name, 'memory': 1024,
                                        'vcpu': 1, 'proc_units': 0.1},
                              lb.DefaultStandardize(host_w))
        return bldr.build().create(parent=host_w)

    def _mapped_vdisk(self, adapter, host_w, vios_uuid, lpar_w, name):
        vg_w = pvm_stor.find_vg(adapter, 'datavg')[1]
        vdisk = pvm_stor.crt_vdisk(adapter, vios_uuid, vg_w.uuid, name, 1)
        scsi_mapper.add_vscsi_mapping(host_w.uuid, vios_uuid, lpar_w.uuid,
                                      vdisk)
        return vdisk

    def _vdisk_names(self):
        return sorted(name for vg in
                      self.sim.inventory()['volume_groups'].values()
                      for name in vg['virtual_disks'])

    def test_stale_mapping_to_missing_partition_is_scrubbed(self):
        adapter = session.build_adapter()
        self.addCleanup(adapter.session._logoff)
        host_w = session.get_host_wrapper(adapter)
        vios1 = self.sim.vios_uuids[0]
        gone = self._lpar(adapter, host_w, 'gone')
        kept = self._lpar(adapter, host_w, 'kept')
        self._mapped_vdisk(adapter, host_w, vios1, gone, 'stale_disk')
        self._mapped_vdisk(adapter, host_w, vios1, kept, 'live_disk')
        # The partition goes while vios1 is down: vios1 keeps its mapping.
        self.sim.set_partition_state(vios1, 'not activated')
        gone.delete()
        self.sim.set_partition_state(vios1, 'running')
        clients = [m['client'] for m in
                   self.sim.inventory()['scsi_mappings']]
        self.assertIn(gone.uuid, clients)
        self.assertIn(kept.uuid, clients)
        self.assertIn('stale_disk', self._vdisk_names())

        self.drv.init_host('compute1')

        clients = [m['client'] for m in
                   self.sim.inventory()['scsi_mappings']]
        self.assertNotIn(gone.uuid, clients)
        # The live partition's mapping and disk are untouched.
        self.assertEqual([kept.uuid], clients)
        self.assertNotIn('stale_disk', self._vdisk_names())
        self.assertIn('live_disk', self._vdisk_names())

    def test_nothing_stale_nothing_changed(self):
        adapter = session.build_adapter()
        self.addCleanup(adapter.session._logoff)
        host_w = session.get_host_wrapper(adapter)
        kept = self._lpar(adapter, host_w, 'kept')
        self._mapped_vdisk(adapter, host_w, self.sim.vios_uuids[0], kept,
                           'live_disk')
        before = self.sim.inventory()
        self.sim.clear_request_log()
        self.drv.init_host('compute1')
        self.assertInventory(before)
        changes = [(r['method'], r['path']) for r in self.sim.request_log()
                   if r['method'] in ('POST', 'DELETE')]
        self.assertEqual([], [c for c in changes if 'Logon' not in c[1] and
                              '/jobs/' not in c[1]])
