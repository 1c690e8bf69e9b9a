"""Many pypowervm clients at once: every answer well-formed (item 6)."""
import threading

import fixtures
from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import vfc_mapper as pvm_vfcm
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import inventory as sim_inv
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_core

CLIENTS = 32
ROUNDS = 4
XAGS = [pvm_vios.VIOS.xags.SCSI_MAPPING, pvm_vios.VIOS.xags.STORAGE]
# What a well-formed, correctly serialized exchange may answer.
OK_STATUSES = {200, 204, 304, 412}


class TestConcurrentClients(base.SimTestCase):
    """32 sessions mix reads, etag-checked updates, jobs and logons."""

    sim_kwargs = dict(base.SimTestCase.sim_kwargs)

    def _client(self, idx, lpar_uuid, vios_uuid, barrier, outcome):
        try:
            barrier.wait(30)
            for rnd in range(ROUNDS):
                # A logon per round (its body is parsed too).
                sess = base.session(self.fix)
                adpt = pvm_adpt.Adapter(sess)
                # Same object for everyone: a VIOS, read then posted back
                # with its etag (412 when another client got there first).
                vios = pvm_vios.VIOS.get(adpt, uuid=vios_uuid, xag=XAGS)
                try:
                    vios.update()
                    outcome['updated'] += 1
                except pvm_exc.HttpError as e:
                    if e.response.status != 412:
                        raise
                    outcome['412'] += 1
                # A different object per client: its own partition.
                lpar = pvm_lpar.LPAR.get(adpt, uuid=lpar_uuid)
                lpar.name = 'stress%d-%d' % (idx, rnd)
                lpar = lpar.update()
                self.assertEqual('stress%d-%d' % (idx, rnd), lpar.name)
                # A job (its body is parsed outside the state lock).
                self.assertEqual(2, len(pvm_vfcm.build_wwpn_pair(
                    adpt, self.sim.host_uuid)))
                # A feed read.
                self.assertTrue(pvm_lpar.LPAR.get(adpt))
                sess._logoff()
        except Exception as e:  # reported by the main thread
            outcome['errors'].append('client %d: %r' % (idx, e))

    def test_32_clients_no_malformed_answers(self):
        lpars = [test_core.build_lpar(self, name='stress%d' % i, mem=512,
                                      vcpu=1, units=0.1)
                 for i in range(CLIENTS)]
        vios_uuid = self.sim.vios_uuids[0]
        self.sim.clear_request_log()
        barrier = threading.Barrier(CLIENTS)
        outcomes = [{'updated': 0, '412': 0, 'errors': []}
                    for _ in range(CLIENTS)]
        threads = [threading.Thread(target=self._client, args=(
            i, lpars[i].uuid, vios_uuid, barrier, outcomes[i]))
            for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual([], [e for o in outcomes for e in o['errors']])
        statuses = [e['status'] for e in self.sim.request_log()]
        self.assertEqual(set(), set(statuses) - OK_STATUSES)
        updated = sum(o['updated'] for o in outcomes)
        conflicts = sum(o['412'] for o in outcomes)
        self.assertEqual(CLIENTS * ROUNDS, updated + conflicts)
        self.assertGreater(updated, 0)
        self.assertEqual(statuses.count(412), conflicts)
        # Every partition ends with its client's last name.
        names = {w.uuid: w.name for w in pvm_lpar.LPAR.get(self.adpt)}
        for i, w in enumerate(lpars):
            self.assertEqual('stress%d-%d' % (i, ROUNDS - 1), names[w.uuid])


class TestXMLThreadRules(base.SimTestCase):
    """The rules of xmlutil's docstring, checked one by one."""

    def test_parser_per_thread(self):
        mine = xu.parser()
        self.assertIs(mine, xu.parser())
        other = xu.in_private_thread(xu.parser)
        self.assertIsNot(mine, other)

    def test_private_thread_result_error_and_inline(self):
        me = threading.current_thread()
        self.assertIsNot(me, xu.in_private_thread(threading.current_thread))
        self.assertRaises(KeyError, xu.in_private_thread, {}.__getitem__, 1)
        # A simulator thread (already under the rules) runs fn inline.
        inner = xu.in_private_thread(
            xu.in_private_thread, threading.current_thread)
        self.assertIsNot(me, inner)
        self.assertEqual('powervm-simulator-xml', inner.name)

    def test_every_request_body_parsed_under_the_state_lock(self):
        held = []
        real = xu.parse

        def parse(body):
            held.append(self.sim.lock._is_owned())
            return real(body)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.simulator.xmlutil.parse', parse))
        # Logon, a job, an update, a malformed body.
        sess = base.session(self.fix)
        adpt = pvm_adpt.Adapter(sess)
        self.assertEqual(2, len(pvm_vfcm.build_wwpn_pair(
            adpt, self.sim.host_uuid)))
        lpar = test_core.build_lpar(self, name='locked')
        lpar.name = 'locked2'
        lpar = lpar.update()
        sess._logoff()
        e = self.assertRaises(pvm_exc.HttpError, self.adpt.update,
                              b'<LogicalPartition', lpar.etag,
                              pvm_lpar.LPAR.schema_type, lpar.uuid)
        self.assertEqual(400, e.response.status)
        self.assertGreaterEqual(len(held), 4)
        self.assertTrue(all(held), held)

    def test_test_thread_never_changes_stored_trees(self):
        """Seeding, reset and state changes asked by a test run elsewhere."""
        seen = []
        for name in ('add', 'touch'):
            real = getattr(sim_inv.Inventory, name)

            def spy(inv, *args, _real=real, **kwargs):
                seen.append(threading.current_thread())
                return _real(inv, *args, **kwargs)
            self.useFixture(fixtures.MonkeyPatch(
                'nova_powervm.simulator.inventory.Inventory.' + name, spy))
        lpar = test_core.build_lpar(self, name='seen')
        del seen[:]
        self.sim.reset()
        lpar = test_core.build_lpar(self, name='seen')
        self.sim.set_partition_state(lpar.uuid, 'running')
        self.assertTrue(seen)
        self.assertNotIn(threading.current_thread(), seen)
