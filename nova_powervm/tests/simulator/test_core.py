"""Logon, reads, xag, search, quick, CRUD with etags through pypowervm."""
import json
import os

from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import cna as pvm_cna
from pypowervm.tasks import partition as pvm_par
from pypowervm.utils import lpar_builder as lb
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import network as pvm_net
from pypowervm.wrappers import virtual_io_server as pvm_vios
import requests

from nova_powervm.simulator import seed
from nova_powervm.tests.simulator import base


def build_lpar(test, name='vm1', mem=2048, vcpu=2, units=0.5):
    host = test.host()
    bldr = lb.LPARBuilder(test.adpt, {'name': name, 'memory': mem,
                                      'vcpu': vcpu, 'proc_units': units},
                          lb.DefaultStandardize(host))
    return bldr.build().create(parent=host)


class TestLogon(base.SimTestCase):

    def test_password_logon_and_traits(self):
        self.assertEqual('PVM', self.sess.mc_type)
        self.assertEqual(1, self.sim.counters()['logons'])

    def test_bad_password_401(self):
        e = self.assertRaises(pvm_exc.HttpError, base.session, self.fix,
                              password='wrong')
        self.assertEqual(401, e.response.status)
        self.assertEqual(1, self.sim.counters()['failed_logons'])

    def test_file_logon(self):
        sess = base.session(self.fix, password=None)
        self.addCleanup(sess._logoff)
        self.assertTrue(sess.use_file_auth)
        ms = pvm_lpar.LPAR.get(self.adpt.__class__(sess))
        self.assertEqual(['novalink'], [w.name for w in ms])
        # The token file lives under the simulator's state directory.
        self.assertTrue(os.listdir(os.path.join(self.sim.state_dir,
                                                'sessions')))

    def test_file_logon_unknown_user_refused(self):
        e = self.assertRaises(pvm_exc.HttpError, base.session, self.fix,
                              username='intruder', password=None)
        self.assertEqual(401, e.response.status)
        self.assertEqual(1, self.sim.counters()['failed_logons'])

    def test_expired_token_relogon(self):
        self.sim.expire_sessions()
        self.assertEqual(seed.HOST_UUID, self.host().uuid)
        log = self.sim.request_log()
        self.assertEqual([401, 200, 200], [e['status'] for e in log[-3:]])
        self.assertEqual(2, self.sim.counters()['logons'])

    def test_logoff_invalidates_token(self):
        tok = self.sess._sessToken
        self.sess._logoff()
        r = requests.get(self.sim.base_url + '/rest/api/uom/ManagedSystem',
                         headers={'X-API-Session': tok}, timeout=5)
        self.assertEqual(401, r.status_code)


class TestReads(base.SimTestCase):

    def test_seed(self):
        host = self.host()
        self.assertEqual(16.0, host.proc_units_avail)
        self.assertEqual(131072, host.memory_free)
        mgmt = pvm_par.get_mgmt_partition(self.adpt)
        self.assertEqual(self.sim.mgmt_uuid, mgmt.uuid)
        self.assertEqual(['vios1', 'vios2'],
                         sorted(v.name for v in pvm_vios.VIOS.get(self.adpt)))
        self.assertEqual({'ETHERNET0', 'NovaLinkVEABridge'},
                         {v.name for v in pvm_net.VSwitch.get(
                             self.adpt, parent=host)})
        nbs = pvm_net.NetBridge.get(self.adpt, parent=host)
        self.assertEqual(1, len(nbs))
        self.assertEqual(self.sim.vios_uuids[0],
                         nbs[0].seas[0].vio_uri.rsplit('/', 1)[1])

    def test_xag_filtering(self):
        bare = pvm_vios.VIOS.get(self.adpt, uuid=self.sim.vios_uuids[0])
        self.assertIsNone(bare.element.find('PhysicalVolumes'))
        full = pvm_vios.VIOS.get(self.adpt, uuid=self.sim.vios_uuids[0],
                                 xag=[pvm_vios.VIOS.xags.STORAGE])
        self.assertIsNotNone(full.element.find('PhysicalVolumes'))
        self.assertIsNone(full.element.find('SharedEthernetAdapters'))
        self.assertIn('group=ViosStorage', full.href)
        everything = pvm_vios.VIOS.get(self.adpt, uuid=self.sim.vios_uuids[0],
                                       xag=[])
        self.assertIsNotNone(everything.element.find('SharedEthernetAdapters'))

    def test_root_and_child_forms_and_404(self):
        root = pvm_lpar.LPAR.get(self.adpt, uuid=self.sim.mgmt_uuid)
        child = pvm_lpar.LPAR.get(self.adpt, uuid=self.sim.mgmt_uuid,
                                  parent_type='ManagedSystem',
                                  parent_uuid=self.sim.host_uuid)
        self.assertEqual(root.uuid, child.uuid)
        self.assertEqual(root.etag, child.etag)
        self.assertIn('/ManagedSystem/', child.href)
        e = self.assertRaises(pvm_exc.HttpError, pvm_lpar.LPAR.get,
                              self.adpt, uuid='1234ABCD-0000-0000-0000-'
                                              '000000000000')
        self.assertEqual(404, e.response.status)
        e = self.assertRaises(pvm_exc.HttpError, self.adpt.read, 'NoSuchType')
        self.assertEqual(404, e.response.status)
        self.assertIn('Unknown resource type', e.response.body)

    def test_search_quick_and_304(self):
        found = pvm_lpar.LPAR.search(self.adpt, name='novalink')
        self.assertEqual([self.sim.mgmt_uuid], [w.uuid for w in found])
        self.assertEqual([], pvm_lpar.LPAR.search(self.adpt, name='nope'))
        neg = pvm_lpar.LPAR.search(self.adpt, negate=True, name='novalink')
        self.assertEqual([], neg)
        # As the REST API: root objects only, by their search keys, no
        # extended attribute group (pypowervm reads and filters the feed
        # for anything else).
        for kwargs in (
                dict(root_type='LogicalPartition', suffix_type='search',
                     suffix_parm="(PartitionState=='running')"),
                dict(root_type='ManagedSystem', suffix_type='search',
                     suffix_parm="(SystemName=='x')"),
                dict(root_type='ManagedSystem', root_id=self.sim.host_uuid,
                     child_type='LogicalPartition', suffix_type='search',
                     suffix_parm="(PartitionName=='novalink')"),
                dict(root_type='LogicalPartition', suffix_type='search',
                     suffix_parm="(PartitionName=='novalink')",
                     xag=['NVRAM'])):
            e = self.assertRaises(pvm_exc.HttpError, self.adpt.read,
                                  **kwargs)
            self.assertEqual(400, e.response.status, kwargs)
        mgmt = pvm_lpar.LPAR.get(self.adpt, uuid=self.sim.mgmt_uuid)
        self.assertEqual([mgmt.uuid], [w.uuid for w in pvm_lpar.LPAR.search(
            self.adpt, id=mgmt.id)])
        resp = self.adpt.read('LogicalPartition', self.sim.mgmt_uuid,
                              suffix_type='quick',
                              suffix_parm='PartitionState')
        self.assertEqual('running', json.loads(resp.body))
        w = pvm_lpar.LPAR.get(self.adpt, uuid=self.sim.mgmt_uuid)
        self.assertIs(w, w.refresh())
        self.assertEqual(304, self.sim.request_log()[-1]['status'])


class TestCrud(base.SimTestCase):

    def test_create_update_delete_lpar(self):
        before = self.sim.inventory()
        w = build_lpar(self)
        self.assertEqual('not activated', w.state)
        self.assertEqual(w.uuid.upper(), w.uuid)
        self.assertEqual(4, w.id)
        snap = self.sim.inventory()['partitions'][w.uuid]
        self.assertEqual(('vm1', 2048), (snap['name'], snap['memory_mb']))
        w.name = 'vm2'
        w2 = w.update()
        self.assertNotEqual(w.etag, w2.etag)
        self.assertEqual('vm2', pvm_lpar.LPAR.get(self.adpt,
                                                  uuid=w.uuid).name)
        # Stale etag -> 412, state unchanged.
        w.name = 'vm3'
        e = self.assertRaises(pvm_exc.HttpError, w.update)
        self.assertEqual(412, e.response.status)
        self.assertEqual('vm2', self.sim.inventory()['partitions'][
            w.uuid]['name'])
        w2.delete()
        self.assertEqual(before, self.sim.inventory())

    def test_stale_delete_412_and_view_update_keeps_hidden_groups(self):
        w = build_lpar(self)
        fresh = pvm_lpar.LPAR.get(self.adpt, uuid=w.uuid)
        fresh.name = 'vm9'
        fresh.update()
        e = self.assertRaises(pvm_exc.HttpError, w.delete)
        self.assertEqual(412, e.response.status)
        self.assertIn(w.uuid, self.sim.inventory()['partitions'])
        # Update a VIOS through its group=None view: storage groups survive.
        before = self.sim.inventory()
        uuid = self.sim.vios_uuids[0]
        vios = pvm_vios.VIOS.get(self.adpt, uuid=uuid)
        self.assertEqual(0, len(vios.phys_vols))
        vios.update()
        full = pvm_vios.VIOS.get(self.adpt, uuid=uuid,
                                 xag=[pvm_vios.VIOS.xags.STORAGE])
        self.assertEqual(3, len(full.phys_vols))
        self.assertEqual(before, self.sim.inventory())

    def test_duplicate_name_rejected(self):
        build_lpar(self)
        e = self.assertRaises(pvm_exc.HttpError, build_lpar, self)
        self.assertEqual(409, e.response.status)
        self.assertEqual(1, len(pvm_lpar.LPAR.search(self.adpt, name='vm1')))

    def test_cna_and_cascade_delete(self):
        w = build_lpar(self)
        c1 = pvm_cna.crt_cna(self.adpt, None, w.uuid, 100)
        c2 = pvm_cna.crt_cna(self.adpt, None, w.uuid, 200)
        self.assertEqual((3, 4), (c1.slot, c2.slot))
        self.assertNotEqual(c1.mac, c2.mac)
        self.assertEqual(0, c1.vswitch_id)
        cnas = self.sim.inventory()['client_adapters']
        self.assertEqual({'100', '200'}, {c['pvid'] for c in cnas.values()})
        self.assertEqual(2, len(pvm_net.CNA.get(self.adpt, parent=w)))
        w.delete()
        self.assertEqual({}, self.sim.inventory()['client_adapters'])

    def test_vswitch_in_use_is_not_deleted(self):
        host = self.host()
        vsw = pvm_net.VSwitch.bld(self.adpt, 'SW2').create(
            parent=host)
        w = build_lpar(self)
        cna = pvm_net.CNA.bld(self.adpt, 100, vsw.related_href).create(
            parent=w)
        e = self.assertRaises(pvm_exc.HttpError, vsw.refresh().delete)
        self.assertEqual(409, e.response.status)
        self.assertIn('in use by 1 virtual Ethernet adapter', e.response.body)
        self.assertIn('SW2', [v['name'] for v in
                              self.sim.inventory()['vswitches'].values()])
        cna.delete()
        vsw.refresh().delete()
        self.assertNotIn('SW2', [v['name'] for v in
                                 self.sim.inventory()['vswitches'].values()])

    def test_vswitch_of_a_sea_is_not_deleted(self):
        # No client adapter on it, but the SEA's trunk adapters are.
        host = self.host()
        vsw = [v for v in pvm_net.VSwitch.get(self.adpt, parent=host)
               if v.switch_id == 0][0]
        self.assertEqual([], [c for c in self.sim.inventory()[
            'client_adapters'].values()])
        e = self.assertRaises(pvm_exc.HttpError, vsw.delete)
        self.assertEqual(409, e.response.status)
        self.assertIn('in use by', e.response.body)
        self.assertIn(vsw.name, [v['name'] for v in
                                 self.sim.inventory()['vswitches'].values()])

    def test_bad_input(self):
        host = self.host()
        path = '/rest/api/uom/ManagedSystem/%s/LogicalPartition' % host.uuid
        for body, ctype, status in (
                (b'<not-xml', 'application/xml', 400),
                (b'<uom:VirtualSwitch xmlns:uom="http://www.ibm.com/xmlns/'
                 b'systems/power/firmware/uom/mc/2012_10/"/>',
                 'application/xml', 400),
                (b'{}', 'application/json', 415)):
            e = self.assertRaises(
                pvm_exc.HttpError, self.sess.request, 'PUT', path,
                headers={'Content-Type': ctype}, body=body)
            self.assertEqual(status, e.response.status)
            self.assertIn('HttpErrorResponse', e.response.body)
        self.assertEqual(['novalink'],
                         [w.name for w in pvm_lpar.LPAR.get(self.adpt)])
        self.assertEqual(16.0, self.host().proc_units_avail)

    def test_delete_running_refused(self):
        mgmt = pvm_lpar.LPAR.get(self.adpt, uuid=self.sim.mgmt_uuid)
        e = self.assertRaises(pvm_exc.HttpError, mgmt.delete)
        self.assertEqual(409, e.response.status)
        self.assertIn(self.sim.mgmt_uuid, self.sim.inventory()['partitions'])
