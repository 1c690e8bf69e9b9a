"""The in-place VIOS update (storage_scsi_fast) against the ordinary one.

Two simulators seeded alike; every body is POSTed to the first with the
in-place path on and to the second with it off (the same random draws),
and the answers (status, error, the VIOS) and the stored state compared
as XML (the namespace prefixes lxml picks for moved elements may differ).
Each case also says which path the first one took.
"""
import random
import re
from unittest import mock
import warnings

from lxml import etree
from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import fixture
from nova_powervm.simulator import registry
from nova_powervm.simulator import seed_scale
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import storage_scsi_facts as sfacts
from nova_powervm.simulator import storage_scsi_fast as fast
from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests import base as test_base
from nova_powervm.tests.simulator import base

SMAP = [pvm_const.XAG.VIO_SMAP]
N = 6
# An answer's time and (errors') random id.
_ATOM = re.compile(rb'<published>[^<]*</published>|<id>[^<]*</id>')


def _same_xml(data):
    """data in a form equal for the same XML whatever its prefixes."""
    return etree.canonicalize(data.decode(), rewrite_prefixes=True)


class Side(object):
    """One simulator and a session to it."""

    def __init__(self, case):
        random.seed(18)
        fix = case.useFixture(fixture.SimulatorFixture(
            partitions=N, event_hold_s=0.5, power_delay_s=0.05))
        self.sim = fix.sim
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            self.sess = base.session(fix)
        case.addCleanup(self.sess._logoff)
        self.adpt = pvm_adpt.Adapter(self.sess)
        self.base = self.sim.base_url.encode()

    def vios(self, uuid=None):
        if uuid is not None:
            return pvm_vios.VIOS.get(self.adpt, uuid=uuid, xag=SMAP)
        return [v for v in pvm_vios.VIOS.get(self.adpt, xag=SMAP)
                if v.name == 'vios1'][0]

    def post(self, body, etag, uuid, query='?group=ViosSCSIMapping'):
        """(status, answer bytes) of a raw POST of ``body``."""
        path = '/rest/api/uom/VirtualIOServer/%s%s' % (uuid, query)
        try:
            resp = self.adpt.update_by_path(body, etag, path)
        except pvm_exc.HttpError as e:
            resp = e.response
        ans = resp.body
        return resp.status, ans.encode() if isinstance(ans, str) else ans

    def state(self, uuid):
        """What is stored (hrefs made neutral).

        The VIOS serialized whole and per group, the mappings and the
        published client slots.
        """
        obj = self.sim.store.get('VirtualIOServer', uuid)
        with self.sim.lock:
            out = [etree.tostring(xu.filter_xag(obj.element, g)) for g in (
                None, {'ViosSCSIMapping'}, {'ViosStorage'})]
        out = [_same_xml(o.replace(self.base, b'BASE')) for o in out]
        slots = sorted((k[1], sorted(v)) for k, v in self.sim.extra.items()
                       if isinstance(k, tuple) and k[0] == 'slots')
        return out, self.sim.inventory()['scsi_mappings'], slots, obj.etag


class TestInPlaceUpdate(test_base.TestCase):

    def setUp(self):
        super(TestInPlaceUpdate, self).setUp()
        self.summaries = self.by_tag = 0
        self.a = Side(self)   # in-place path on
        self.b = Side(self)   # ordinary path only
        self.uuid = self.a.vios().uuid
        # (Reads the VIOS with another group: done before the updates.)
        self.vg = tsk_stg.find_vg(self.a.adpt, 'datavg')[1].uuid
        # One update first (the seed's VIOS goes the ordinary path); the
        # FC ports' storage views (hidden group ViosStorage) stay, and the
        # updates below go in place all the same.
        self.both(lambda v: v, fast_taken=None)
        el = self.a.sim.store.get('VirtualIOServer', self.uuid).element
        self.assertEqual(2, len(el.xpath(
            '//*[local-name()="PhysicalFibreChannelPort"]'
            '/*[local-name()="PhysicalVolumes"]'
            '/*[local-name()="PhysicalVolume"]')))

    def disk(self, name):
        """A new virtual disk of the same UDID on both simulators."""
        out = []
        for side in (self.a, self.b):
            random.seed(name)
            out.append(tsk_stg.crt_vdisk(side.adpt, self.uuid, self.vg,
                                         name, 1))
        self.assertEqual(out[0].udid, out[1].udid)
        return out[0]

    def both(self, edit, fast_taken=True, raw=None, etag=None,
             query='?group=ViosSCSIMapping'):
        """POST edit(VIOS wrapper) (or raw(body bytes)) to both; compare."""
        vios_w = self.a.vios(self.uuid)
        body = edit(vios_w).toxmlstring()
        if raw is not None:
            body = raw(body)
        self.assertEqual(vios_w.etag, self.b.vios(self.uuid).etag)
        etag = etag or vios_w.etag
        plans = []
        real_plan = fast.plan

        def spy(*args):
            plans.append(real_plan(*args))
            return plans[-1]
        random.seed(body)
        with mock.patch.object(fast, 'plan', spy):
            got_a = self.a.post(body, etag, self.uuid, query)
        random.seed(body)
        with mock.patch.dict(registry.FAST_UPDATES, clear=True):
            got_b = self.b.post(body.replace(self.a.base, self.b.base),
                                etag, self.uuid, query)
        if fast_taken is not None:
            self.assertEqual([fast_taken], [p is not None for p in plans])
        norm = [(st, _same_xml(_ATOM.sub(b'', ans.replace(side.base,
                                                          b'BASE'))))
                for (st, ans), side in ((got_a, self.a), (got_b, self.b))]
        self.assertEqual(norm[1], norm[0])
        self.assertEqual(self.b.state(self.uuid), self.a.state(self.uuid))
        self.assert_index_fresh(query)
        return got_a

    def assert_index_fresh(self, query):
        """The index kept from update to update equals a fresh one.

        (Built from the answer the next update compares bodies with.)
        """
        obj = self.a.sim.store.get('VirtualIOServer', self.uuid)
        key = ('ViosSCSIMapping',) if 'group=' in query else None
        with self.a.sim.lock:
            kept = obj.cache.get((fast.INDEX, key))
            served = obj.cache.get(key)
            if kept is None or served is None or kept[0] is not served:
                return
            fresh = fast._build(obj, set(key) if key else None, served,
                                self.a.sim.base_url)
            self.assertEqual(served, xu.tostring_xag(
                obj.element, set(key) if key else None))
        with self.a.sim.lock:
            memo = obj.cache.get(sfacts.MEMO)
            if memo is not None and memo[2] is not None:
                # The Summary kept equals a fresh count.
                self.assertIs(memo[0], obj.element)
                maps = list(obj.element.iter('{*}VirtualSCSIMapping'))
                self.assertEqual(sfacts.Summary.of(
                    sfacts.facts_of(m) for m in maps), memo[2])
                # And the memo: every mapping's facts, no other.
                self.assertEqual({id(m): (m, sfacts.facts_of(m))
                                  for m in maps}, memo[1])
                self.summaries += 1
        self.assertEqual(fresh is None, kept[3] is None)
        if fresh is not None:
            # The bounds found from the start tags (when known) are those
            # of the mappings serialized one by one.
            c0, cq = fresh.bounds[0], fast._qname(fresh.maps[0].getparent())
            by_tag = fast._bounds_by_tag(fresh.maps, {}, served, c0, cq)
            if by_tag is not None:
                self.by_tag += 1
                self.assertEqual(fast._bounds_one_by_one(
                    fresh.maps, {}, served, c0), by_tag)
            for name in fast._Index.__slots__:
                want, got = getattr(fresh, name), getattr(kept[3], name)
                if name == 'decls':
                    # Learned from the mappings seen (per prefix).
                    want = {k: v for k, v in want.items() if k in got}
                    got = {k: v for k, v in got.items() if k in want}
                self.assertEqual(want, got, name)

    def lpar_uuid(self, index):
        return seed_scale.partition_uuid(index)

    def add(self, disk, index):
        def edit(v):
            tsk_map.add_map(v, tsk_map.build_vscsi_mapping(
                None, v, self.lpar_uuid(index), disk))
            return v
        return edit

    def remove(self, name):
        def edit(v):
            tsk_map.remove_maps(v, None, match_func=lambda s: s.name == name)
            return v
        return edit

    def test_add_remove_and_both(self):
        d1, d2 = self.disk('fa1'), self.disk('fa2')
        self.assertEqual(200, self.both(self.add(d1, 2))[0])
        self.assertEqual(200, self.both(self.add(d2, 3))[0])
        # A mapping in the middle goes.
        self.assertEqual(200, self.both(self.remove('fa1'))[0])
        # One goes and one comes in one body: the last one (a contiguous
        # change), or one in the middle (the mappings between them are
        # posted copies: the ordinary path).
        d3, d4 = self.disk('fa3'), self.disk('fa4')

        def swap(disk, index, name):
            def edit(v):
                self.add(disk, index)(v)
                return self.remove(name)(v)
            return edit
        self.assertEqual(200, self.both(swap(d3, 4, 'fa2'))[0])
        self.assertEqual(200, self.both(swap(d4, 4, seed_scale.DISK % 5),
                                        fast_taken=False)[0])
        # Nothing changed: a new etag all the same.
        self.assertEqual(200, self.both(lambda v: v)[0])
        # The answers' index follows: more updates stay in place.
        self.assertEqual(200, self.both(self.remove('fa3'))[0])
        self.assertEqual(200, self.both(self.add(d1, 1))[0])

    def test_refusals_go_through_the_checks(self):
        d1 = self.disk('fr1')
        stored = self.a.state(self.uuid)
        # Unknown storage.
        st, body = self.both(self.add(pvm_stg.VDisk.bld_ref(
            self.a.adpt, 'nosuch'), 2))
        self.assertEqual(400, st)
        self.assertIn(b'not known', body)
        self.assertEqual(stored, self.a.state(self.uuid))

        # A client partition that does not exist.
        def no_client(v):
            tsk_map.add_map(v, tsk_map.build_vscsi_mapping(
                None, v, '7AAAAAAA-0000-4000-8000-000000000009', d1))
            return v
        st, body = self.both(no_client)
        self.assertEqual(400, st)
        # The same storage twice to one partition.
        self.assertEqual(200, self.both(self.add(d1, 2))[0])
        stored = self.a.state(self.uuid)

        def again(v):
            # (add_map would leave it out: pypowervm sees it is there.)
            v.scsi_mappings.append(tsk_map.build_vscsi_mapping(
                None, v, self.lpar_uuid(2), d1))
            return v
        st, body = self.both(again)
        self.assertEqual(409, st)
        self.assertIn(b'already mapped', body)
        # A client slot of the partition's serial adapters.

        def serial_slot(v):
            # A new adapter pair (build_vscsi_mapping would reuse the
            # partition's).
            v.scsi_mappings.append(pvm_vios.VSCSIMapping.bld(
                v.adapter, None, self.lpar_uuid(3), d1, lpar_slot_num=1))
            return v
        st, body = self.both(serial_slot)
        self.assertEqual(400, st)
        self.assertIn(b'outside the virtual slots', body)
        # A stale etag.
        st, _body = self.both(self.add(d1, 2), fast_taken=None,
                              etag='1234')
        self.assertEqual(412, st)
        # Nothing stored by any of them (etag unchanged too).
        self.assertEqual(stored, self.a.state(self.uuid))

    def test_bodies_left_to_the_ordinary_path(self):
        d1 = self.disk('fo1')
        self.both(self.add(d1, 2))

        def edit_stored(field, value):
            def edit(v):
                m = [m for m in v.scsi_mappings
                     if m.backing_storage.name == 'fo1'][0]
                m.server_adapter.set_parm_value(field, value)
                return v
            return edit
        # A stored mapping with one field changed: kept as stored.
        self.assertEqual(200, self.both(
            edit_stored('VirtualSlotNumber', '99'), fast_taken=False)[0])
        # Its target device changed: for both paths the stored mapping
        # goes and a new one of its storage comes (its target device
        # rebuilt).
        st, _body = self.both(
            lambda v: _set_tdev(v, 'fo1', '09ffffffffffffffff'))
        self.assertEqual(200, st)
        self.assertNotIn('09ffffffffffffffff', [
            m['target'] for m in self.a.sim.inventory()['scsi_mappings']])

        # A field outside the mappings.
        def rename(v):
            v.set_parm_value('PartitionName', 'vios-renamed')
            return v
        self.both(rename, fast_taken=False)
        # Whitespace or a comment among the mappings, a processing
        # instruction, a truncated body.
        d2 = self.disk('fo2')
        marker = b'<VirtualIOServer:VirtualSCSIMapping schemaVersion'
        for extra in (b' ', b'<!-- x -->', b'<?pi x?>'):
            self.both(self.add(d2, 3), fast_taken=False,
                      raw=lambda b: b.replace(marker, extra + marker, 1))
        st, _body = self.both(self.add(d2, 3), fast_taken=None,
                              raw=lambda b: b[:-40])
        self.assertEqual(400, st)

    def test_index_follows_random_changes(self):
        # Mappings added and removed in a random order, some in one body:
        # after each update the index kept equals a fresh one (both()).
        rnd = random.Random(18)
        free = [self.disk('fx%d' % n) for n in range(5)]
        names = [seed_scale.DISK % n for n in range(1, N + 1)]
        taken = 0
        for _step in range(14):
            kind = rnd.choice(('add', 'remove', 'swap') if free and names
                              else ('remove',) if names else ('add',))
            if kind in ('add', 'swap'):
                disk = free.pop(rnd.randrange(len(free)))
                edit = self.add(disk, rnd.randint(1, N))
            if kind in ('remove', 'swap'):
                name = names.pop(rnd.randrange(len(names)))
                gone = self.remove(name)
                edit = gone if kind == 'remove' else (
                    lambda e, g: lambda v: g(e(v)))(edit, gone)
            if kind != 'remove':
                names.append(disk.name)
            plans = []
            real = fast.plan
            with mock.patch.object(fast, 'plan', lambda *a: plans.append(
                    real(*a)) or plans[-1]):
                self.assertEqual(200, self.both(edit, fast_taken=None)[0])
            taken += plans[-1] is not None
        # (A swap in the middle goes the ordinary way.)
        self.assertGreater(taken, 7)
        self.assertGreater(self.summaries, 7)
        self.assertGreater(self.by_tag, 7)

    def test_foreign_href_goes_the_ordinary_way(self):
        d1 = self.disk('fh1')
        base = self.a.base + b'/rest/api/'

        def foreign(body):
            # The added mapping's partition link, elsewhere.
            at = body.rindex(base)
            return body[:at] + b'http://elsewhere:1/rest/api/' + body[
                at + len(base):]
        st, _body = self.both(self.add(d1, 2), fast_taken=False,
                              raw=foreign)
        self.assertEqual(200, st)
        # Then in place again.
        self.both(self.remove('fh1'))

    def test_storage_in_use_with_and_without_the_memo(self):
        d1 = self.disk('fu1')
        self.both(self.add(d1, 2))
        sim = self.a.sim
        obj = sim.store.get('VirtualIOServer', self.uuid)
        udids = [d1.udid, 'nosuch']
        for m in obj.element.iter('{*}VirtualSCSIMapping'):
            udids.extend(d.text for d in m.iter('{*}UniqueDeviceID'))
            udids.extend(d.text for d in m.iter('{*}MediaUDID'))
        with sim.lock:
            self.assertIsNotNone(sfacts.stored_memo(obj, obj.element))
            memo = [stg.storage_in_use(sim, obj.key, u) for u in udids]
            obj.cache.clear()
            scan = [stg.storage_in_use(sim, obj.key, u) for u in udids]
        self.assertEqual(scan, memo)
        self.assertIn(True, memo)
        self.assertIn(False, memo)

    def test_other_groups_and_no_group(self):
        d1 = self.disk('fg1')
        # No group: the whole VIOS posted back.
        self.both(self.add(d1, 2), fast_taken=None, query='')
        self.both(self.remove('fg1'), fast_taken=None, query='')

    def test_answer_of_another_group_in_between(self):
        # Filtering another group's answer moves this group's mappings out
        # and back (lxml may give them other prefixes): the next update
        # goes the ordinary way, the one after it in place again.
        d1, d2 = self.disk('fb1'), self.disk('fb2')
        self.both(self.add(d1, 2))
        for side in (self.a, self.b):
            pvm_vios.VIOS.get(side.adpt, uuid=self.uuid,
                              xag=[pvm_const.XAG.VIO_STOR])
        self.both(self.add(d2, 3), fast_taken=False)
        self.both(self.remove('fb1'))

    def test_facts_memo_survives_updates_not_other_changes(self):
        d1 = self.disk('fm1')
        self.both(self.add(d1, 2))
        obj = self.a.sim.store.get('VirtualIOServer', self.uuid)
        memo = sfacts.stored_memo(obj, obj.element)
        maps = {id(m) for m in obj.element.iter(
            '{*}VirtualSCSIMapping')}
        self.assertEqual(maps, set(memo))
        with self.a.sim.lock:
            self.a.sim.store.touch(obj)
        self.assertIsNone(sfacts.stored_memo(obj, obj.element))

    def test_partition_delete_with_the_memo(self):
        # The cascade reads the mappings' clients from the memo.
        d1 = self.disk('fd1')
        self.both(self.add(d1, 5))
        obj = self.a.sim.store.get('VirtualIOServer', self.uuid)
        self.assertIsNotNone(sfacts.stored_memo(obj, obj.element))
        uid = self.lpar_uuid(5)
        before = self.a.sim.inventory()['scsi_mappings']
        self.assertEqual(2, len([m for m in before if m['client'] == uid]))
        self.a.adpt.delete('LogicalPartition', root_id=uid)
        after = self.a.sim.inventory()['scsi_mappings']
        self.assertEqual([m for m in before if m['client'] != uid], after)


def _set_tdev(vios_w, name, udid):
    m = [m for m in vios_w.scsi_mappings if m.backing_storage.name == name][0]
    m.target_dev.element.findall('.//{*}UniqueDeviceID')[0].text = udid
    return vios_w
