"""Unit tests for NVRAM persistence (nvram/ package, its tasks and events)."""
import os
import stat
import threading
import time
from unittest import mock

import fixtures
from lxml import etree
from nova.compute import task_states
from nova.compute import vm_states
from nova import test
from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tests.test_utils import pvmhttp
from pypowervm.wrappers import logical_partition as pvm_lpar

from nova_powervm.conf import powervm as pvm_conf

from nova_powervm.virt.powervm import event
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm import nvram
from nova_powervm.virt.powervm.nvram import local
from nova_powervm.virt.powervm.nvram import manager
from nova_powervm.virt.powervm.tasks import vm as tf_vm

INST = '9ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11'
PVM = '1BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'
HREF = 'https://h:12443/rest/api/uom/LogicalPartition/' + PVM


def wait_for(pred, timeout=5):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


class FakeStore(object):
    """In-memory store; ``fail`` > 0 makes that many calls raise."""

    def __init__(self):
        self.data = {}
        self.calls = []
        self.fail = 0
        self.lock = threading.Lock()

    def _call(self, *call):
        with self.lock:
            self.calls.append(call)
            if self.fail:
                self.fail -= 1
                raise IOError('store unreachable')

    def store(self, key, data):
        self._call('store', key, data)
        self.data[key] = data

    def fetch(self, key):
        self._call('fetch', key)
        return self.data.get(key)

    def delete(self, key):
        self._call('delete', key)
        self.data.pop(key, None)


def http_error(status):
    return pvm_exc.HttpError(mock.Mock(status=status, body='', reqpath='p'))


class TestLocalStore(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'nvram')
        self.store = local.LocalNvramStore(self.path)

    def test_round_trip_private_files(self):
        self.assertIsNone(self.store.fetch(INST))
        self.store.store(INST, 'QUJD')
        self.store.store(INST, 'REVG')
        self.assertEqual('REVG', self.store.fetch(INST.upper()))
        self.assertEqual([INST + '.nvram'], os.listdir(self.path))
        fmode = os.stat(os.path.join(self.path, INST + '.nvram')).st_mode
        self.assertEqual(0o600, stat.S_IMODE(fmode))
        self.assertEqual(0o700, stat.S_IMODE(os.stat(self.path).st_mode))
        self.store.delete(INST)
        self.store.delete(INST)   # already gone: fine
        self.assertIsNone(self.store.fetch(INST))

    def test_only_instance_uuids_are_keys(self):
        for bad in ('../../etc/passwd', '', None, INST + '/x'):
            self.assertRaises(ValueError, self.store.store, bad, 'QUJD')
        self.assertFalse(os.path.exists(self.path))


class TestManager(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.store = FakeStore()
        self.adpt = mock.Mock()
        self.get = self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.nvram.manager.read_nvram')).mock
        self.get.return_value = 'QUJD'
        self.mgr = manager.NvramManager(self.adpt, self.store,
                                        retry_delays=(0.01, 0.02))
        self.addCleanup(self.mgr.stop)

    def stored(self):
        return [c for c in self.store.calls if c[0] == 'store']

    def test_change_is_read_with_nvram_group_and_stored(self):
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.store.data.get(INST)))
        self.assertEqual('QUJD', self.store.data[INST])
        self.get.assert_called_once_with(self.adpt, PVM)

    def test_unchanged_nvram_not_written_again(self):
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.stored()))
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.get.call_count == 2))
        time.sleep(0.05)
        self.assertEqual(1, len(self.stored()))
        self.get.return_value = 'REVG'
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: len(self.stored()) == 2))
        self.assertEqual('REVG', self.store.data[INST])

    def test_unreachable_store_retried_and_fetch_sees_pending(self):
        self.store.fail = 3
        self.mgr.retry_delays = (0.2,)
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.store.calls))
        # Not in the store yet: the manager still has it.
        self.assertEqual('QUJD', self.mgr.fetch(INST))
        self.assertTrue(wait_for(lambda: self.store.data.get(INST)))
        self.assertEqual(4, len(self.stored()))
        self.assertEqual(1, self.get.call_count)

    def test_gone_partition_is_not_retried(self):
        self.get.side_effect = http_error(404)
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.get.called))
        time.sleep(0.05)
        self.assertEqual(1, self.get.call_count)
        self.assertEqual([], self.store.calls)

    def test_rest_error_read_again_later(self):
        self.get.side_effect = [http_error(500), 'QUJD']
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.store.data.get(INST)))
        self.assertEqual(2, self.get.call_count)

    def test_failed_read_superseded_leaves_nothing_queued(self):
        # A newer request (e.g. store_now before a delete) during a failed
        # read: the stale read is not queued again, and later changes are
        # not merged into a retry that will never run.
        def read_fails_meanwhile_superseded(*args, **kwargs):
            with self.mgr._lock:
                self.mgr._bump(INST)
            raise http_error(500)
        self.get.side_effect = read_fails_meanwhile_superseded
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.get.called))
        time.sleep(0.05)
        self.assertEqual({}, self.mgr._queued)
        self.get.side_effect = None
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.store.data.get(INST)))

    def test_remove_supersedes_pending_write(self):
        self.store.fail = 1
        self.mgr.retry_delays = (0.1,)
        self.mgr.changed(PVM, INST)
        self.assertTrue(wait_for(lambda: self.store.calls))
        self.mgr.remove(INST)
        self.assertTrue(wait_for(
            lambda: ('delete', INST) in self.store.calls))
        time.sleep(0.2)
        self.assertEqual(1, len(self.stored()))
        self.assertNotIn(INST, self.store.data)
        self.assertIsNone(self.mgr.fetch(INST))

    def test_failed_delete_retried(self):
        self.store.data[INST] = 'QUJD'
        self.store.fail = 2
        self.mgr.remove(INST)
        self.assertTrue(wait_for(lambda: INST not in self.store.data))
        self.assertEqual(3, self.store.calls.count(('delete', INST)))

    def test_store_now_reads_and_writes_in_caller(self):
        self.mgr.store_now(PVM, INST)
        self.assertEqual('QUJD', self.store.data[INST])
        self.get.side_effect = http_error(500)
        self.mgr.store_now(PVM, INST)   # logged, not raised

    def test_fetch_failure_is_none(self):
        self.store.fail = 1
        self.assertIsNone(self.mgr.fetch(INST))

    def test_stopped_manager_does_nothing(self):
        self.mgr.stop()
        self.mgr.changed(PVM, INST)
        self.mgr.remove(INST)
        time.sleep(0.05)
        self.assertEqual([], self.store.calls)
        self.get.assert_not_called()


def _inst(vm_state=vm_states.ACTIVE, task_state=None, host='compute1'):
    return mock.Mock(uuid=INST, vm_state=vm_state, task_state=task_state,
                     host=host)


class TestReadNvram(test.NoDBTestCase):
    """read_nvram reads what pypowervm's LPAR wrapper would."""

    def setUp(self):
        super().setUp()
        self.adpt = mock.Mock()
        feed = pvmhttp.load_pvm_resp('lpar.txt').get_response().body
        self.entries = etree.fromstring(feed.encode()).findall(
            '{http://www.w3.org/2005/Atom}entry')

    def _answer(self, body):
        self.adpt.session.request.return_value = mock.Mock(body=body)

    def test_same_as_the_wrapper(self):
        seen = set()
        for entry in self.entries:
            body = etree.tostring(entry, encoding='unicode')
            resp = pvm_adpt.Response('GET', '/p', 200, 'OK', {}, body=body)
            resp._unmarshal_atom()
            want = pvm_lpar.LPAR.wrap(resp).nvram
            self._answer(body)
            self.assertEqual(want, manager.read_nvram(self.adpt, PVM))
            seen.add(want is None)
        # Partitions with and without NVRAM in the recorded answer.
        self.assertEqual({True, False}, seen)
        self.adpt.session.request.assert_called_with(
            'GET', '/rest/api/uom/LogicalPartition/%s?group=NVRAM' % PVM,
            headers={'Accept': 'application/atom+xml'})

    def test_not_a_partition_entry(self):
        self._answer('<feed xmlns="http://www.w3.org/2005/Atom"/>')
        self.assertRaises(ValueError, manager.read_nvram, self.adpt, PVM)
        self._answer('<entry xmlns="http://www.w3.org/2005/Atom"/>')
        self.assertRaises(ValueError, manager.read_nvram, self.adpt, PVM)

    def test_http_error_raised(self):
        self.adpt.session.request.side_effect = http_error(404)
        self.assertRaises(pvm_exc.HttpError, manager.read_nvram, self.adpt,
                          PVM)


class TestHooks(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.mgr = mock.Mock(host='compute1')

    def test_build_manager(self):
        self.flags(nvram_store='none', group='powervm')
        self.assertIsNone(nvram.build_manager(mock.Mock(), 'compute1'))
        self.flags(nvram_store='Local', nvram_local_path='/x/y',
                   group='powervm')
        mgr = nvram.build_manager(mock.Mock(), 'compute1')
        self.addCleanup(mgr.stop)
        self.assertIsInstance(mgr.store, local.LocalNvramStore)
        self.assertEqual('/x/y', mgr.store.path)

    def test_defaults(self):
        opts = {o.name: o for o in pvm_conf.nvram_opts}
        self.assertEqual('$state_path/powervm_nvram',
                         pvm_conf.NVRAM_LOCAL_PATH)
        self.assertEqual('local', opts['nvram_store'].default)
        self.assertTrue(opts['swift_password'].secret)
        # Tests keep NVRAM files out of nova's state_path.
        self.assertIn('nova-powervm-test-nvram-',
                      nvram.CONF.powervm.nvram_local_path)

    def test_swift_needs_url_and_password(self):
        self.flags(nvram_store='swift', group='powervm')
        e = self.assertRaises(exc.NvramStoreNotConfigured,
                              nvram.build_manager, mock.Mock(), 'c1')
        self.assertIn('swift_auth_url', str(e))
        self.flags(swift_auth_url='http://ks/v3', group='powervm')
        e = self.assertRaises(exc.NvramStoreNotConfigured,
                              nvram.build_manager, mock.Mock(), 'c1')
        self.assertIn('swift_password', str(e))
        self.flags(swift_password='pw', group='powervm')
        mgr = nvram.build_manager(mock.Mock(), 'compute1')
        self.addCleanup(mgr.stop)
        self.assertEqual('powervm_nvram', mgr.store.container)

    def test_restore_into(self):
        self.mgr.fetch.return_value = 'QUJD'
        lpar_w = mock.Mock(nvram=None)
        # A first boot has nothing saved: no store access.
        nvram.restore_into(self.mgr, _inst(vm_states.BUILDING), lpar_w)
        self.mgr.fetch.assert_not_called()
        self.assertIsNone(lpar_w.nvram)
        nvram.restore_into(None, _inst(), lpar_w)
        nvram.restore_into(self.mgr, _inst(
            task_state=task_states.REBUILD_SPAWNING), lpar_w)
        self.mgr.fetch.assert_called_once_with(INST)
        self.assertEqual('QUJD', lpar_w.nvram)
        self.mgr.fetch.return_value = None
        lpar_w = mock.Mock(nvram=None)
        nvram.restore_into(self.mgr, _inst(), lpar_w)
        self.assertIsNone(lpar_w.nvram)

    def test_keep_on_destroy(self):
        keep = [_inst(task_state=task_states.REBUILDING),
                _inst(task_state=task_states.RESIZE_REVERTING),
                _inst(vm_state=vm_states.SHELVED_OFFLOADED),
                _inst(host='compute2')]    # evacuated away
        drop = [_inst(task_state=task_states.DELETING),
                _inst(vm_state=vm_states.ERROR), _inst(host=None)]
        for inst in keep:
            self.assertTrue(nvram.keep_on_destroy(inst, 'compute1'), inst)
        for inst in drop:
            self.assertFalse(nvram.keep_on_destroy(inst, 'compute1'), inst)

    def test_before_and_after_delete(self):
        rebuild = _inst(task_state=task_states.REBUILDING)
        nvram.before_delete(self.mgr, rebuild)
        nvram.after_delete(self.mgr, rebuild)
        self.mgr.store_now.assert_called_once_with(PVM, INST)
        self.mgr.remove.assert_not_called()
        gone = _inst(task_state=task_states.DELETING)
        nvram.before_delete(self.mgr, gone)
        nvram.after_delete(self.mgr, gone)
        self.assertEqual(1, self.mgr.store_now.call_count)
        self.mgr.remove.assert_called_once_with(INST)
        nvram.before_delete(None, gone)
        nvram.after_delete(None, gone)
        # Evacuation source / migration confirm: kept, not saved again
        # (the partition on the other host has the instance's NVRAM now).
        moved = _inst(host='compute2')
        nvram.before_delete(self.mgr, moved)
        nvram.after_delete(self.mgr, moved)
        self.assertEqual(1, self.mgr.store_now.call_count)
        self.assertEqual(1, self.mgr.remove.call_count)
        nvram.save_now(self.mgr, moved)
        self.assertEqual(2, self.mgr.store_now.call_count)


class TestTasksAndEvents(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.vm = self.useFixture(fixtures.MockPatchObject(tf_vm, 'vm')).mock
        self.mgr = mock.Mock(host='compute1')

    def test_create_sends_saved_nvram(self):
        self.mgr.fetch.return_value = 'QUJD'
        lpar_w = mock.Mock(nvram=None)
        sent = []
        self.vm.create_lpar.side_effect = (
            lambda a, h, i, lpar_w: sent.append(lpar_w.nvram))
        tf_vm.Create('adpt', 'host', _inst(), lpar_w=lpar_w,
                     nvram_mgr=self.mgr).execute()
        self.assertEqual(['QUJD'], sent)
        # Without a wrapper the task builds it (as create_lpar did).
        tf_vm.Create('adpt', 'host', _inst(), nvram_mgr=self.mgr).execute()
        self.vm.build_lpar.assert_called_once_with('adpt', 'host', mock.ANY)
        self.assertEqual('QUJD', self.vm.build_lpar.return_value.nvram)

    def test_delete_saves_before_or_removes_after(self):
        order = []
        self.mgr.store_now.side_effect = lambda *a: order.append('save')
        self.mgr.remove.side_effect = lambda *a: order.append('remove')
        self.vm.delete_lpar.side_effect = lambda *a: order.append('delete')
        tf_vm.Delete('adpt', _inst(task_state=task_states.REBUILDING),
                     self.mgr).execute()
        tf_vm.Delete('adpt', _inst(task_state=task_states.DELETING),
                     self.mgr).execute()
        self.assertEqual(['save', 'delete', 'delete', 'remove'], order)
        self.vm.delete_lpar.side_effect = http_error(500)
        self.assertRaises(pvm_exc.HttpError, tf_vm.Delete(
            'adpt', _inst(), self.mgr).execute)
        self.assertEqual(1, self.mgr.remove.call_count)
        tf_vm.ForgetNvram(self.mgr, _inst()).execute()
        self.assertEqual(2, self.mgr.remove.call_count)

    def test_nvram_event_goes_to_manager_without_rest(self):
        drv = mock.Mock(nvram_mgr=self.mgr)
        handler = event.PowerVMNovaEventHandler(drv)
        handler.remember(mock.Mock(uuid=INST))
        with mock.patch.object(event.vm, 'get_vm_qp') as qp:
            handler.process([
                {'EventType': 'MODIFY_URI', 'EventData': HREF,
                 'EventDetail': 'NVRAM'},
                {'EventType': 'MODIFY_URI', 'EventData': HREF,
                 'EventDetail': 'NVRAM'},
                {'EventType': 'ADD_URI', 'EventData': HREF + '/x',
                 'EventDetail': 'NVRAM'}])
            qp.assert_not_called()
        self.mgr.changed.assert_called_once_with(PVM, INST)
        drv.nvram_mgr = None
        handler.process([{'EventType': 'MODIFY_URI', 'EventData': HREF,
                          'EventDetail': 'NVRAM'}])
        self.assertEqual(1, self.mgr.changed.call_count)
