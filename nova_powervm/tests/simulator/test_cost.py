"""The simulator's own cost: what the request log reports, and the cheap
paths (serialization without copies, whole-VIOS updates that move the
stored mappings) giving exactly the answers and state of the plain ones."""
import io
import time
from unittest import mock

from lxml import etree
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import power
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm.simulator import timing
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.simulator import test_storage


class TestCost(test_storage.StorageTestCase):

    sim_kwargs = dict(test_storage.StorageTestCase.sim_kwargs,
                      power_delay_s=0.1)

    def test_request_log_cpu_and_modelled_wait(self):
        self.sim.set_latency(30)
        self.host()
        entry = self.sim.request_log()[-1]
        # The injected latency is a modelled wait, not the simulator's CPU.
        self.assertEqual(30.0, entry['wait_ms'])
        self.assertGreater(entry['cpu_ms'], 0)
        self.assertLess(entry['cpu_ms'] + entry['wait_ms'],
                        entry['duration_ms'] + 0.01)
        self.sim.set_latency(0)
        self.sim.clear_request_log()
        power.power_on(self.lpar(), None)
        job = [e for e in self.sim.request_log()
               if e['path'].endswith('/do/PowerOn') and e['method'] == 'PUT']
        # The job's duration (power_delay_s) is modelled.
        self.assertEqual([100.0], [e['wait_ms'] for e in job])

    def test_cpu_of_other_threads_during_a_modelled_wait_left_out(self):
        # Under eventlet a green sleep lets other green threads run on the
        # OS thread: their CPU is not the request's (cpu_ms + wait_ms went
        # over duration_ms, failing the test above on a loaded machine).
        def busy_sleep(_seconds):
            end = time.thread_time() + 0.02
            while time.thread_time() < end:
                pass
        clock = timing.Clock()
        with mock.patch.object(timing.time, 'sleep', busy_sleep):
            timing.modelled_sleep(0.03)
            with timing.waiting():
                busy_sleep(None)
        duration, cpu, wait = clock.figures()
        self.assertLess(cpu, 10.0)
        self.assertGreaterEqual(wait, 30.0)

    def test_xag_serialization_without_copy(self):
        vios = self.sim.store.get('VirtualIOServer', self.vios_uuid)
        host = self.sim.store.of_type('ManagedSystem')[0]
        for obj in (vios, host):
            before = etree.tostring(obj.element)
            for groups in (None, set(), {'ViosSCSIMapping'},
                           {'ViosStorage', 'ViosNetwork'}, {'All'},
                           {'Hypervisor'}):
                self.assertEqual(
                    etree.tostring(xu.filter_xag(obj.element, groups)),
                    xu.tostring_xag(obj.element, groups))
            self.assertEqual(before, etree.tostring(obj.element))

    def test_normalize_hrefs_only_foreign_ones(self):
        el = etree.fromstring(
            b'<a xmlns="u" href="http://x:1/rest/api/uom/A">'
            b'<b href="http://127.0.0.1:5/rest/api/b"/>'
            b'<c href="http://127.0.0.1:55/rest/api/c"/>'
            b'<d href="ftp://z/rest/api/d"/><e href=""/>'
            b'<f href="http://o/other"/></a>')
        xu.normalize_hrefs(el, 'http://127.0.0.1:5')
        self.assertEqual(
            ['http://127.0.0.1:5/rest/api/uom/A',
             'http://127.0.0.1:5/rest/api/b',
             'http://127.0.0.1:5/rest/api/c', 'ftp://z/rest/api/d', '',
             'http://o/other'], [d.get('href') for d in el.iter()])

    def _three_mappings(self):
        lpar = self.lpar()
        disks = [tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                                   'd%d' % n, 1) for n in range(3)]
        vios_w = self.vios()
        for disk in disks:
            tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
                None, vios_w, lpar.uuid, disk))
        return lpar, vios_w.update()

    def _stored(self):
        return etree.tostring(self.sim.get_object('VirtualIOServer',
                                                  self.vios_uuid))

    def test_failed_update_keeps_stored_mappings(self):
        lpar, vios_w = self._three_mappings()
        stored, etag = self._stored(), vios_w.etag
        # Remove the middle mapping, add one of unknown storage: refused,
        # and the stored mappings (moved, not copied, into the posted
        # VIOS) are back in place, in order.
        tsk_map.remove_maps(vios_w, lpar.uuid,
                            match_func=lambda s: s.name == 'd1')
        tsk_map.add_map(vios_w, tsk_map.build_vscsi_mapping(
            None, vios_w, lpar.uuid, pvm_stg.VDisk.bld_ref(self.adpt, 'no')))
        e = self.assertRaises(pvm_exc.HttpError, vios_w.update)
        self.assertEqual(400, e.response.status)
        self.assertEqual(stored, self._stored())
        self.assertEqual(etag, self.vios().etag)
        # The next update works on them.
        vios_w = self.vios()
        tsk_map.remove_maps(vios_w, lpar.uuid,
                            match_func=lambda s: s.name == 'd1')
        vios_w = vios_w.update()
        self.assertEqual(['d0', 'd2'], [
            m.backing_storage.name
            for m in tsk_map.find_maps(vios_w.scsi_mappings, lpar.uuid)])

    def test_kept_mappings_are_the_stored_ones(self):
        lpar, vios_w = self._three_mappings()
        stored = {m.backing_storage.name: etree.tostring(m.element.element)
                  for m in vios_w.scsi_mappings}
        # A client that edits server fields of a mapping it posts back
        # does not change them; a removal leaves the rest as stored.
        for m in vios_w.scsi_mappings:
            m.server_adapter.set_parm_value('VirtualSlotNumber', '99')
        tsk_map.remove_maps(vios_w, lpar.uuid,
                            match_func=lambda s: s.name == 'd0')
        vios_w = vios_w.update()
        after = {m.backing_storage.name: etree.tostring(m.element.element)
                 for m in vios_w.scsi_mappings}
        self.assertEqual(2, len(after))
        self.assertEqual({k: stored[k] for k in after}, after)
        # Client slots published for network adapters: still the bus's.
        slots = self.sim.extra[('slots', ('LogicalPartition',
                                          lpar.uuid.upper()))]
        self.assertEqual({m.client_adapter.lpar_slot_num for m in
                          tsk_map.find_maps(vios_w.scsi_mappings,
                                            lpar.uuid)}, slots)

    def test_vg_change_keeps_vios_answers_unless_its_view_changed(self):
        key = ('ViosSCSIMapping',)
        vios = self.sim.store.get('VirtualIOServer', self.vios_uuid)
        self.vios()
        cached = vios.cache[key]
        # A disk in datavg leaves the VIOS's media repository view alone.
        tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid, 'd9', 1)
        self.assertIs(cached, vios.cache[key])
        # New media in the repository: the VIOS's view changes with it.
        tsk_stg.upload_vopt(self.adpt, self.vios_uuid, io.BytesIO(b'x'),
                            'cost_iso', 1)
        self.assertNotIn(key, vios.cache)
        view = xu.child(self.sim.get_object('VirtualIOServer',
                                            self.vios_uuid),
                        'MediaRepositories')
        self.assertIn('cost_iso', [d.text for d in
                                   xu.descendants(view, 'MediaName')])

    def test_update_hrefs_normalized_unless_all_ours(self):
        from nova_powervm.simulator import rest
        base = self.sim.base_url
        self.assertTrue(rest._hrefs_ours(self.sim, (
            '<a href="%s/rest/api/uom/X"/>' % base).encode()))
        for body in ('<a href="http://other:1/rest/api/uom/X"/>',
                     '<a href ="%s/rest/api/uom/X"/>' % base,
                     "<a href='%s/rest/api/uom/X'/>" % base,
                     '<a href="%s/rest/api/uom/X"/><b>href</b>' % base):
            self.assertFalse(rest._hrefs_ours(self.sim, body.encode()))
        # A posted foreign href to this server's resource points here.
        lpar = self.lpar()
        link = xu.child(lpar.element.element, 'AssociatedManagedSystem')
        link.set('href', link.get('href').replace(base, 'http://other:1'))
        lpar.update()
        stored = self.sim.get_object('LogicalPartition', lpar.uuid)
        self.assertTrue(xu.child(stored, 'AssociatedManagedSystem').get(
            'href').startswith(base + '/rest/api/uom/ManagedSystem/'))

    def test_failed_vg_update_keeps_stored_disks(self):
        for n in range(3):
            tsk_stg.crt_vdisk(self.adpt, self.vios_uuid, self.vg.uuid,
                              'k%d' % n, 1)
        vg, disks = self.vdisks()
        stored = etree.tostring(self.sim.get_object(
            'VolumeGroup', vg.uuid))
        # The kept disks are moved (not copied) into the posted VG; a
        # refusal (the last one shrinks) puts them back, in order.
        disks['k2'].capacity = 0.5
        self.assertRaises(pvm_exc.HttpError, vg.update)
        self.assertEqual(stored, etree.tostring(self.sim.get_object(
            'VolumeGroup', vg.uuid)))
        # Unchanged disks stay as stored, a grown one grows.
        vg, disks = self.vdisks()
        disks['k1'].capacity = 2
        vg = vg.update()
        self.assertEqual({'k0': 1, 'k1': 2, 'k2': 1}, {
            d.name: d.capacity for d in vg.virtual_disks
            if d.name.startswith('k')})
