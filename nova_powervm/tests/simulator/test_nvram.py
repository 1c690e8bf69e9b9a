"""Partition NVRAM through pypowervm: create, read, update, events."""
import base64

from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power
from pypowervm.utils import lpar_builder as lb
from pypowervm.wrappers import logical_partition as pvm_lpar

from nova_powervm.tests.simulator import base
from nova_powervm.tests.simulator import test_core
from nova_powervm.tests.simulator import test_jobs_events

_XAG = [pvm_const.XAG.NVRAM]


def _b64(data):
    return base64.b64encode(data).decode('ascii')


class TestNvram(base.SimTestCase):

    def _get(self, uuid, xag=_XAG):
        return pvm_lpar.LPAR.get(self.adpt, uuid=uuid, xag=xag)

    def _built(self, name='vm1'):
        bldr = lb.LPARBuilder(self.adpt, {'name': name, 'memory': 2048,
                                          'vcpu': 1, 'proc_units': 0.5},
                              lb.DefaultStandardize(self.host()))
        return bldr.build()

    def test_firmware_fills_nvram_in_its_group(self):
        w = test_core.build_lpar(self)
        data = self._get(w.uuid).nvram
        self.assertEqual(self.sim.nvram(w.uuid), data)
        self.assertIn(w.uuid.encode(), base64.b64decode(data))
        # Hidden unless the NVRAM group is asked for.
        self.assertIsNone(self._get(w.uuid, xag=None).nvram)
        self.assertIsNone(self._get(
            w.uuid, xag=[pvm_const.XAG.ADV]).nvram)

    def test_create_with_nvram_keeps_it(self):
        lpar = self._built()
        lpar.nvram = _b64(b'saved boot list')
        w = lpar.create(parent=self.host())
        self.assertEqual(_b64(b'saved boot list'), self.sim.nvram(w.uuid))

    def test_create_with_bad_nvram_refused(self):
        for bad in ('not base64!', ''):
            lpar = self._built()
            lpar.nvram = bad
            e = self.assertRaises(pvm_exc.HttpError, lpar.create,
                                  parent=self.host())
            self.assertEqual(400, e.response.status)
            self.assertIn('NVRAM', e.response.body)
        self.assertEqual(['novalink'], [
            w.name for w in pvm_lpar.LPAR.get(self.adpt)])

    def test_update_sets_nvram_only_when_off(self):
        w = self._get(test_core.build_lpar(self).uuid)
        w.nvram = _b64(b'v2')
        w = w.update()
        self.assertEqual(_b64(b'v2'), self.sim.nvram(w.uuid))
        # An update that did not read the group keeps the NVRAM.
        plain = self._get(w.uuid, xag=[])
        plain.name = 'renamed'
        plain.update()
        self.assertEqual(_b64(b'v2'), self.sim.nvram(w.uuid))
        power.power_on(w, None)
        w = self._get(w.uuid)
        w.nvram = _b64(b'v3')
        e = self.assertRaises(pvm_exc.HttpError, w.update)
        self.assertEqual(409, e.response.status)
        self.assertEqual(_b64(b'v2'), self.sim.nvram(w.uuid))

    def test_power_jobs_and_guest_writes_emit_nvram_events(self):
        listener = self.sess.get_event_listener()
        handler = test_jobs_events._Collector()
        listener.subscribe(handler)
        self.addCleanup(listener.unsubscribe, handler)
        w = test_core.build_lpar(self)

        def nvram_events():
            return [e for e in handler.events
                    if e['EventType'] == 'MODIFY_URI' and
                    e['EventDetail'] == 'NVRAM' and
                    e['EventData'].endswith('/LogicalPartition/' + w.uuid)]
        power.power_on(w, None)
        self.assertTrue(handler.wait_for(lambda e: nvram_events()))
        self.sim.write_nvram(w.uuid, b'bootlist=hdisk1')
        self.assertTrue(handler.wait_for(lambda e: len(nvram_events()) > 1))
        self.assertEqual(_b64(b'bootlist=hdisk1'), self._get(w.uuid).nvram)
        power.power_off(w, None, force_immediate=power.Force.TRUE)
        self.assertTrue(handler.wait_for(lambda e: len(nvram_events()) > 2))
