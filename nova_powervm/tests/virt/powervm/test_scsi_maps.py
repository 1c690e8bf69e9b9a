"""Unit tests for scsi_maps.py against pypowervm's recorded VIOS feeds."""
import copy
from unittest import mock

from nova import test
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm.tests.test_utils import pvmhttp
from pypowervm import util as pvm_util
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.virt.powervm.disk import fake_adapter
from nova_powervm.virt.powervm import scsi_maps


_NOBODY = '0000DEAD-BEEF-4000-8000-000000000000'


def _vioses():
    out = []
    for name in ('fake_vios_feed.txt', 'fake_vios_mappings.txt',
                 'fake_vios_ssp_npiv.txt'):
        wrapped = pvm_vios.VIOS.wrap(pvmhttp.load_pvm_resp(
            name).get_response())
        out.extend(wrapped if isinstance(wrapped, list) else [wrapped])
    return out


def _clients(vios_w):
    return sorted({pvm_util.get_req_path_uuid(m.client_lpar_href,
                                              preserve_case=True)
                   for m in vios_w.scsi_mappings if m.client_lpar_href})


def _xml(maps):
    return [m.toxmlstring() for m in maps]


class TestScsiMaps(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.vioses = _vioses()

    def test_same_as_find_maps_for_every_client(self):
        checked = 0
        for vios_w in self.vioses:
            for uuid in _clients(vios_w) + [_NOBODY]:
                for kwargs in ({}, {'include_orphans': True},
                               {'match_func': lambda s: isinstance(
                                   s, pvm_stg.VDisk)}):
                    expected = tsk_map.find_maps(
                        vios_w.scsi_mappings, client_lpar_id=uuid, **kwargs)
                    got = scsi_maps.find_maps(vios_w, uuid, **kwargs)
                    self.assertEqual(_xml(expected), _xml(got),
                                     (vios_w.uuid, uuid, kwargs))
                    checked += bool(expected)
        self.assertGreater(checked, 50)

    def test_only_the_partitions_mappings_are_wrapped(self):
        vios_w = self.vioses[0]
        uuid = _clients(vios_w)[0]
        with mock.patch.object(tsk_map, 'find_maps',
                               wraps=tsk_map.find_maps) as find:
            scsi_maps.find_maps(vios_w, uuid)
        handed = find.call_args[0][0]
        self.assertLess(len(handed), len(vios_w.scsi_mappings))
        self.assertEqual({uuid}, {pvm_util.get_req_path_uuid(
            m.client_lpar_href, preserve_case=True) for m in handed})

    def test_remove_maps(self):
        vios_w = self.vioses[0]
        uuid = _clients(vios_w)[1]
        before = len(vios_w.scsi_mappings)
        gone = scsi_maps.remove_maps(vios_w, uuid)
        self.assertTrue(gone)
        self.assertEqual(before - len(gone), len(vios_w.scsi_mappings))
        self.assertEqual([], tsk_map.find_maps(
            vios_w.scsi_mappings, client_lpar_id=uuid, include_orphans=True))
        self.assertEqual([], scsi_maps.remove_maps(vios_w, uuid))

    def test_add_map_as_pypowervm(self):
        vios_w = self.vioses[0]
        uuid = _clients(vios_w)[0]
        before = len(vios_w.scsi_mappings)
        # A mapping the VIOS has (same client, same storage): not added.
        have = scsi_maps.find_maps(vios_w, uuid)[0]
        self.assertIsNone(tsk_map.add_map(vios_w, copy.deepcopy(have)))
        self.assertIsNone(scsi_maps.add_map(vios_w, copy.deepcopy(have)))
        self.assertEqual(before, len(vios_w.scsi_mappings))
        # A new one is appended.
        adpt = fake_adapter.adapter_with_hrefs()
        vdisk = pvm_stg.VDisk.bld_ref(adpt, 'new_disk')
        mapping = pvm_vios.VSCSIMapping.bld(adpt, 'host', uuid, vdisk)
        self.assertIs(mapping, scsi_maps.add_map(vios_w, mapping))
        self.assertEqual(before + 1, len(vios_w.scsi_mappings))
        self.assertEqual(1, len(scsi_maps.find_maps(
            vios_w, uuid, stg_elem=vdisk, include_orphans=True)))

    def test_plain_list_of_mappings(self):
        vios_w = mock.Mock(scsi_mappings=list(
            self.vioses[0].scsi_mappings))
        uuid = _clients(self.vioses[0])[0]
        self.assertEqual(
            _xml(tsk_map.find_maps(vios_w.scsi_mappings, uuid)),
            _xml(scsi_maps.find_maps(vios_w, uuid)))

    def test_build_mapping_as_pypowervm(self):
        adpt = fake_adapter.adapter_with_hrefs()
        checked = 0
        for vios_w in self.vioses:
            for uuid in _clients(vios_w) + [_NOBODY]:
                for kwargs in ({}, {'fuse_limit': 1},
                               {'lpar_slot_num': 7, 'lua': '0x81',
                                'target_name': 'vtscsi9'}):
                    # (a storage element is moved into the mapping)
                    expected = tsk_map.build_vscsi_mapping(
                        None, vios_w, uuid,
                        pvm_stg.VDisk.bld_ref(adpt, 'new_disk'), **kwargs)
                    got = scsi_maps.build_mapping(
                        vios_w, uuid, pvm_stg.VDisk.bld_ref(adpt, 'new_disk'),
                        **kwargs)
                    self.assertEqual(expected.toxmlstring(),
                                     got.toxmlstring(),
                                     (vios_w.uuid, uuid, kwargs))
                    # Reused an existing bus (its adapters are cloned).
                    checked += got.client_adapter is not None
        self.assertGreater(checked, 20)

    def test_build_mapping_wraps_only_the_partitions_mappings(self):
        vios_w = self.vioses[0]
        uuid = _clients(vios_w)[0]
        vdisk = pvm_stg.VDisk.bld_ref(fake_adapter.adapter_with_hrefs(), 'd')
        with mock.patch.object(pvm_util, 'get_req_path_uuid',
                               wraps=pvm_util.get_req_path_uuid) as parse:
            scsi_maps.build_mapping(vios_w, uuid, vdisk)
        self.assertLess(parse.call_count, len(vios_w.scsi_mappings))

    def test_client_links_in_any_case(self):
        # The candidates are the partition's mappings whatever the case of
        # the links (first and last mapping too); the exact match stays
        # pypowervm's (case-sensitive).
        vios_w = self.vioses[0]
        links = [m.element.find('AssociatedLogicalPartition')
                 for m in vios_w.scsi_mappings]
        links = [link for link in links if link is not None]
        uuid = _clients(vios_w)[0]
        for idx, link in enumerate(links):
            href = link.get('href')
            link.element.set('href', href.lower() if idx % 2 else
                             href.upper())
        for idx in (0, -1):
            href = links[idx].get('href')
            links[idx].element.set('href', href.rsplit('/', 1)[0] + '/' +
                                   uuid.swapcase())
        for arg in (uuid, uuid.lower(), uuid.upper(), uuid.swapcase()):
            self.assertGreaterEqual(
                len(scsi_maps._candidates(vios_w, arg)), 3)
            expected = tsk_map.find_maps(vios_w.scsi_mappings,
                                         client_lpar_id=arg,
                                         include_orphans=True)
            got = scsi_maps.find_maps(vios_w, arg, include_orphans=True)
            self.assertEqual(_xml(expected), _xml(got), arg)

    def test_map_storage_as_build_and_add(self):
        adpt = fake_adapter.adapter_with_hrefs()
        checked = 0
        for vios_w in self.vioses:
            for uuid in _clients(vios_w)[:6] + [_NOBODY]:
                for kwargs in ({}, {'lpar_slot_num': 7, 'lua': '0x81'}):
                    expected_w = copy.deepcopy(vios_w)
                    expected = scsi_maps.add_map(
                        expected_w, scsi_maps.build_mapping(
                            expected_w, uuid,
                            pvm_stg.VDisk.bld_ref(adpt, 'new_disk'),
                            **kwargs))
                    got_w = copy.deepcopy(vios_w)
                    got = scsi_maps.map_storage(
                        got_w, uuid, pvm_stg.VDisk.bld_ref(adpt, 'new_disk'),
                        **kwargs)
                    self.assertEqual(expected.toxmlstring(),
                                     got.toxmlstring())
                    self.assertEqual(expected_w.toxmlstring(),
                                     got_w.toxmlstring())
                    checked += 1
        self.assertGreater(checked, 10)

    def test_map_storage_leaves_mapped_storage_alone(self):
        vios_w, uuid, have = [
            (vios_w, uuid, smap) for vios_w in self.vioses
            for uuid in _clients(vios_w)
            for smap in scsi_maps.find_maps(vios_w, uuid)
            if smap.backing_storage is not None][0]

        def with_storage():
            return sum(1 for smap in vios_w.scsi_mappings
                       if smap.backing_storage is not None)
        stored = with_storage()
        before = vios_w.toxmlstring()
        # Mapped to the partition already: nothing changes.
        self.assertIsNone(scsi_maps.map_storage(vios_w, uuid,
                                                have.backing_storage))
        self.assertEqual(before, vios_w.toxmlstring())
        # Mapped to another partition (one without a bus on this VIOS, so
        # pypowervm builds a new one): copied, still in the first mapping.
        stg = have.backing_storage
        stg.element.adapter = fake_adapter.adapter_with_hrefs()
        new = scsi_maps.map_storage(vios_w, _NOBODY, stg)
        self.assertIsNotNone(new)
        self.assertEqual((stg.name, stg.udid), (new.backing_storage.name,
                                                new.backing_storage.udid))
        self.assertEqual(stored + 1, with_storage())
        self.assertEqual(1, len(scsi_maps.find_maps(
            vios_w, _NOBODY, stg_elem=have.backing_storage)))

    @staticmethod
    def _by_name_or_udid(name, udid):
        def match(stg):
            return stg is not None and (
                stg.name == name or getattr(stg, 'udid', None) == udid)
        return match

    def test_storage_maps_same_as_find_maps_for_every_storage(self):
        checked = 0
        for vios_w in self.vioses:
            stgs = [m.backing_storage for m in vios_w.scsi_mappings
                    if m.backing_storage is not None]
            for stg in stgs:
                udid = getattr(stg, 'udid', None)
                for keys, match in (
                        ((stg.name, udid), self._by_name_or_udid(
                            stg.name, udid)),
                        ((stg.name,), self._by_name_or_udid(stg.name,
                                                            None))):
                    expected = tsk_map.find_maps(
                        vios_w.scsi_mappings, None, match_func=match,
                        include_orphans=True)
                    got = scsi_maps.storage_maps(vios_w, keys, match)
                    self.assertTrue(expected)
                    self.assertEqual(_xml(expected), _xml(got),
                                     (vios_w.uuid, keys))
                    checked += 1
        self.assertGreater(checked, 20)

    def test_storage_maps_wraps_only_that_storages_mappings(self):
        vios_w, stgs = max(((v, [m.backing_storage for m in v.scsi_mappings
                                 if m.backing_storage is not None])
                            for v in self.vioses), key=lambda vs: len(vs[1]))
        stg = stgs[0]
        match = self._by_name_or_udid(stg.name, None)
        with mock.patch.object(tsk_map, 'find_maps',
                               wraps=tsk_map.find_maps) as find:
            got = scsi_maps.storage_maps(vios_w, [stg.name, None], match)
        handed = find.call_args[0][0]
        self.assertLess(len(handed), len(vios_w.scsi_mappings) // 2)
        self.assertEqual(_xml(got), _xml(handed))
        # Removing a found mapping removes it from the VIOS.
        before = len(vios_w.scsi_mappings)
        vios_w.scsi_mappings.remove(got[0])
        self.assertEqual(before - 1, len(vios_w.scsi_mappings))

    def test_storage_maps_without_keys_looks_at_every_mapping(self):
        vios_w = self.vioses[0]
        expected = tsk_map.find_maps(vios_w.scsi_mappings, None,
                                     include_orphans=True)
        self.assertEqual(_xml(expected), _xml(scsi_maps.storage_maps(
            vios_w, [None, ''], lambda stg: True)))
        # A plain list of mappings (not the VIOS's XML): pypowervm's scan.
        plain = mock.Mock(scsi_mappings=list(vios_w.scsi_mappings))
        self.assertEqual(_xml(expected), _xml(scsi_maps.storage_maps(
            plain, ['x'], lambda stg: True)))
