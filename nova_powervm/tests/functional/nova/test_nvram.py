"""NVRAM persistence through nova: saved on change, restored on rebuild
and on cold migration.

nova's rebuild on one host (the driver has no rebuild of its own) powers
the server off, destroys its partition and spawns a new one; the new
partition must come up with the NVRAM the old one had.  The store is the
default one (local files; the tests point ``nvram_local_path`` at a
temporary directory).
"""
import base64

from nova_powervm.tests.functional.nova import base
from nova_powervm.tests.functional.nova import base_hosts


class TestNvramRebuild(base.PowerVMNovaTestCase):

    def test_nvram_saved_on_change_and_restored_on_rebuild(self):
        store = self.compute.manager.driver.nvram_mgr.store
        server = self._boot()
        pvm = self._pvm_uuid(server)
        wanted = base64.b64encode(b'boot-list=/vdevice/v-scsi@30000002'
                                  ).decode('ascii')
        # The guest changes its boot settings: the event feed says so.
        self.sim.write_nvram(pvm, b'boot-list=/vdevice/v-scsi@30000002')
        self._wait_for(lambda: store.fetch(server['id']) == wanted,
                       'the changed NVRAM in the store')
        self.sim.clear_request_log()

        self._action(server, {'rebuild': {'imageRef': self.image['id']}},
                     'ACTIVE')
        self.assertEqual('running', self._state(server))
        self.assertEqual(wanted, self.sim.nvram(pvm))
        # A new partition (the old one was deleted), same NVRAM.
        self.assertEqual(
            ['DELETE', 'PUT'],
            [r['method'] for r in self.sim.request_log()
             if r['method'] in ('PUT', 'DELETE') and
             r['path'].endswith('/LogicalPartition' + (
                 '' if r['method'] == 'PUT' else '/' + pvm))])

        self._delete(server)
        self._wait_for(lambda: store.fetch(server['id']) is None,
                       'the NVRAM removed with the server')


class TestNvramMigrate(base_hosts.TwoHostsTestCase):
    """Cold migration: the target's new partition gets the NVRAM.

    Both compute services of this process use the same local store
    directory, as hosts sharing a Swift container would.
    """

    POWERVM_FLAGS = {'disk_driver': 'ssp'}

    def test_cold_migration_keeps_nvram(self):
        store = self.compute.manager.driver.nvram_mgr.store
        server = self._boot(host=base.COMPUTE_HOST)
        pvm = self._pvm_uuid(server)
        self.sim.write_nvram(pvm, b'boot-list=lu0')
        wanted = base64.b64encode(b'boot-list=lu0').decode('ascii')
        self._wait_for(lambda: store.fetch(server['id']) == wanted,
                       'the changed NVRAM in the store')

        server = self._confirm(self._move(server, {'migrate': None}))
        self.assertEqual(base_hosts.COMPUTE_HOST2, self._host_of(server))
        self.assertIsNone(self._lpar_on(self.sim, server))
        self.assertEqual(wanted, self.sim2.nvram(pvm))
        # The source's clean-up kept it.
        self.assertEqual(wanted, store.fetch(server['id']))
        self._delete(server)
        self._wait_for(lambda: store.fetch(server['id']) is None,
                       'the NVRAM removed with the server')
