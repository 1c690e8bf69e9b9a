"""NVRAM persistence: the driver, the simulator's NVRAM and a real store.

The simulator's event feed reports NVRAM changes (power jobs, a guest
writing its NVRAM); the driver saves the partition's NVRAM, gives it to the
partition a rebuild recreates, and removes it when the instance is deleted.
Stores: local files, and Swift through python-swiftclient against
``swift_server.SwiftServer`` (Keystone v3 logon and the Swift object API on
loopback).
"""
import base64
import time

import fixtures
from nova.compute import task_states
from nova import test
from swiftclient import client as swift_client

from nova_powervm.tests.functional import swift_server
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import nvram
from nova_powervm.virt.powervm.nvram import local
from nova_powervm.virt.powervm.nvram import manager
from nova_powervm.virt.powervm.nvram import swift


def b64(data):
    return base64.b64encode(data).decode('ascii')


class _NvramCase(lc.SimDriverTestCase):

    real_disk = True

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatchObject(manager, 'RETRY_DELAYS',
                                                 (0.1,)))

    def wait_for(self, pred, what, timeout=60):
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                self.fail('timed out waiting for %s' % what)
            time.sleep(0.02)

    def manager(self, store):
        return manager.NvramManager(self.drv.adapter, store, host='compute1')

    def use_manager(self, mgr):
        self.drv.nvram_mgr.stop()
        self.drv.nvram_mgr = mgr
        self.addCleanup(mgr.stop)
        return mgr

    def spawn(self, inst):
        self.drv.spawn(None, inst, self.image_meta, [], None, {}, [])

    def rebuild(self, inst):
        """What nova's rebuild on one host asks: power off, destroy, spawn."""
        inst.vm_state = 'active'
        inst.task_state = task_states.REBUILDING
        self.drv.power_off(inst)
        self.drv.destroy(None, inst, [])
        inst.task_state = task_states.REBUILD_SPAWNING
        self.spawn(inst)

    def delete(self, inst):
        inst.task_state = task_states.DELETING
        self.drv.destroy(None, inst, [])


class TestLocalStore(_NvramCase):

    def test_saved_on_change_restored_on_rebuild_removed_on_delete(self):
        store = self.use_manager(self.manager(local.LocalNvramStore(
            self.useFixture(fixtures.TempDir()).path))).store
        inst = lc.make_instance(1, image_ref=self.image_id)
        self.spawn(inst)
        pvm = ids.pvm_uuid(inst)
        # The power on's NVRAM event: the firmware's NVRAM is saved.
        self.wait_for(lambda: store.fetch(inst.uuid) == self.sim.nvram(pvm),
                      'the NVRAM saved after the power on')
        self.sim.write_nvram(pvm, b'boot-device=/vdevice/v-scsi@2')
        self.wait_for(lambda: store.fetch(inst.uuid) == b64(
            b'boot-device=/vdevice/v-scsi@2'), 'the guest\'s NVRAM saved')

        self.rebuild(inst)
        # A new partition, created with the saved NVRAM.
        self.assertEqual(b64(b'boot-device=/vdevice/v-scsi@2'),
                         self.sim.nvram(pvm))
        self.assertEqual('running', self.lpar(inst).state)

        self.delete(inst)
        self.wait_for(lambda: store.fetch(inst.uuid) is None,
                      'the NVRAM removed')

    def test_nvram_read_faults_fail_no_operation(self):
        # Fault cells: the NVRAM GET answers 500 / drops the connection
        # during a rebuild (event-driven saves and the save before the
        # delete): the rebuild succeeds; saving resumes afterwards.
        store = self.use_manager(self.manager(local.LocalNvramStore(
            self.useFixture(fixtures.TempDir()).path))).store
        inst = lc.make_instance(1, image_ref=self.image_id)
        pvm = ids.pvm_uuid(inst)
        self.spawn(inst)
        for fault in ({'status': 500}, {'drop': True}):
            self.sim.inject_fault(method='GET', path='group=NVRAM',
                                  times=1000, **fault)
            self.rebuild(inst)
            self.assertEqual('running', self.lpar(inst).state, fault)
            self.sim.clear_faults()
            self.sim.write_nvram(pvm, repr(fault))
            self.wait_for(lambda: store.fetch(inst.uuid) == self.sim.nvram(
                pvm), 'the NVRAM saved after %s' % fault)
        failed = [r for r in self.sim.request_log()
                  if 'group=NVRAM' in (r['query'] or '') and
                  r['status'] != 200]
        self.assertTrue(failed)


class TestSwiftStore(_NvramCase):

    def setUp(self):
        super().setUp()
        self.swift = swift_server.SwiftServer().start()
        self.addCleanup(self.swift.stop)
        self.flags(group='powervm', nvram_store='swift',
                   swift_auth_url=self.swift.auth_url,
                   swift_password=self.swift.password)
        self.mgr = self.use_manager(nvram.build_manager(self.drv.adapter,
                                                        'compute1'))

    def stored(self, inst):
        data = self.swift.object('powervm_nvram', inst.uuid)
        return None if data is None else data.decode('ascii')

    def test_unreachable_swift_fails_nothing_and_is_retried(self):
        inst = lc.make_instance(1, image_ref=self.image_id)
        pvm = ids.pvm_uuid(inst)
        self.swift.down = True
        self.spawn(inst)
        self.assertEqual('running', self.lpar(inst).state)
        # Saving failed and is pending (kept in memory meanwhile).
        self.wait_for(lambda: self.mgr.fetch(inst.uuid) == self.sim.nvram(
            pvm), 'the pending NVRAM')
        self.assertIsNone(self.stored(inst))
        # Logged (with the instance), to be tried again.
        self.assertIn('Could not save the NVRAM of instance %s (try 1); '
                      'trying again later' % inst.uuid,
                      self.stdlog.logger.output)
        self.swift.down = False
        self.wait_for(lambda: self.stored(inst) == self.sim.nvram(pvm),
                      'the NVRAM saved once Swift is back')

        # Rebuild: restored from Swift through Keystone's catalog.
        self.sim.write_nvram(pvm, b'os-boot=hdisk1')
        self.wait_for(lambda: self.stored(inst) == b64(b'os-boot=hdisk1'),
                      'the guest\'s NVRAM saved')
        self.rebuild(inst)
        self.assertEqual(b64(b'os-boot=hdisk1'), self.sim.nvram(pvm))

        # Swift down during a rebuild: the NVRAM read before the delete is
        # kept in memory and restored; a fresh nova-compute (nothing in
        # memory) starts the partition with the firmware's NVRAM.
        self.swift.down = True
        self.rebuild(inst)
        self.assertEqual(b64(b'os-boot=hdisk1'), self.sim.nvram(pvm))
        inst.task_state = task_states.REBUILDING
        self.drv.destroy(None, inst, [])
        self.use_manager(nvram.build_manager(self.drv.adapter, 'compute1'))
        inst.task_state = task_states.REBUILD_SPAWNING
        self.spawn(inst)
        self.assertEqual('running', self.lpar(inst).state)
        self.assertNotEqual(b64(b'os-boot=hdisk1'), self.sim.nvram(pvm))
        self.swift.down = False
        self.delete(inst)
        self.wait_for(lambda: self.stored(inst) is None, 'the NVRAM removed')
        self.assertNotIn(self.swift.password, self.stdlog.logger.output)

    def test_evacuation_source_keeps_swift_nvram(self):
        inst = lc.make_instance(1, image_ref=self.image_id)
        pvm = ids.pvm_uuid(inst)
        self.spawn(inst)
        self.wait_for(lambda: self.stored(inst) == self.sim.nvram(pvm),
                      'the NVRAM saved')
        # nova cleans the source of an evacuated instance up with the
        # instance already on its new host.
        inst.host = 'compute2'
        self.drv.destroy(None, inst, [])
        # Whatever the destroy queued has run.
        self.mgr._pool.shutdown(wait=True)
        self.assertIsNotNone(self.stored(inst))
        self.assertNotIn('DELETE', [r[0] for r in self.swift.requests])


class TestSwiftStoreLogon(test.NoDBTestCase):
    """The Swift store alone against the server: logons and their tokens."""

    def setUp(self):
        super().setUp()
        self.swift = swift_server.SwiftServer().start()
        self.addCleanup(self.swift.stop)
        self.flags(group='powervm', swift_auth_url=self.swift.auth_url,
                   swift_password=self.swift.password)
        # No back-off before swiftclient's new logon.
        self.useFixture(fixtures.MockPatch('swiftclient.client.sleep'))

    def round_trip(self, key='9ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11'):
        store = swift.SwiftNvramStore(nvram.CONF.powervm)
        store.store(key, 'QUJD')
        self.assertEqual(b'QUJD', self.swift.object('powervm_nvram', key))
        # The token expired: swiftclient logs on again.
        self.swift.tokens.clear()
        self.assertEqual('QUJD', store.fetch(key))
        store.delete(key)
        store.delete(key)       # already gone: fine
        self.assertIsNone(store.fetch(key))
        return [r[2] for r in self.swift.requests]

    def test_keystone_v3(self):
        statuses = self.round_trip()
        # No container at first: made on the first upload.
        self.assertEqual([201, 404, 201, 201, 401, 201, 200], statuses[:7])

    def test_tempauth_v1(self):
        self.flags(group='powervm', swift_auth_version='1',
                   swift_auth_url=self.swift.url + '/auth/v1.0')
        self.assertEqual([200, 404, 201, 201, 401, 200, 200],
                         self.round_trip()[:7])

    def test_wrong_password_raises(self):
        self.flags(group='powervm', swift_password='wrong')
        store = swift.SwiftNvramStore(nvram.CONF.powervm)
        self.assertRaises(swift_client.ClientException, store.fetch,
                          '9ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11')
        # Refused at the logon: Swift itself was never asked.
        self.assertEqual([('POST', '/v3/auth/tokens', 401)],
                         self.swift.requests)
