"""vios_post: a VIOS POST's answer built from the POSTed tree.

Against the REST simulator (seeded partitions, each with a vSCSI mapping)
with the real pypowervm: the built answer must be what pypowervm's parse
of the server's answer gives.
"""
import copy
from unittest import mock
import warnings

from lxml import etree
from nova import test
from pypowervm import adapter as pvm_adpt
from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm import util as pvm_util
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import fixture as sim_fixture
from nova_powervm.tests.simulator import base as sim_base
from nova_powervm.virt.powervm import batch
from nova_powervm.virt.powervm import pvm_private
from nova_powervm.virt.powervm import scsi_maps
from nova_powervm.virt.powervm import vios_post

_XAG = [pvm_const.XAG.VIO_SMAP]


class TestViosPost(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.fx = self.useFixture(sim_fixture.SimulatorFixture(
            event_hold_s=0.2, partitions=4))
        self.sess = sim_base.session(self.fx)
        self.addCleanup(self.sess._logoff)
        self.adapter = pvm_adpt.Adapter(self.sess)

    def _vios(self):
        """The VIOS with the seeded partitions' mappings (fresh GET)."""
        return max(pvm_vios.VIOS.get(self.adapter, xag=_XAG),
                   key=lambda v: len(v.scsi_mappings))

    def _same_as_read(self, got):
        """``got`` is the wrapper a GET of the VIOS gives now."""
        read = pvm_vios.VIOS.get(self.adapter, uuid=got.uuid, xag=_XAG)
        self.assertEqual(read.etag, got.etag)
        self.assertEqual(read.toxmlstring(), got.toxmlstring())
        # Every entry property but the answer's time.
        props = [dict(w.entry.properties) for w in (read, got)]
        for prop in props:
            self.assertIn('published', prop)
            del prop['published']
        self.assertEqual(props[0], props[1])
        self.assertEqual(read.href, got.href)

    @staticmethod
    def _client(smap):
        return pvm_util.get_req_path_uuid(smap.client_lpar_href,
                                          preserve_case=True)

    def test_remove_then_add_a_mapping(self):
        vios_w = self._vios()
        self.assertGreaterEqual(len(vios_w.scsi_mappings), 4)
        tree = vios_w.element.element
        smap = vios_w.scsi_mappings[1]
        client, stg = self._client(smap), copy.deepcopy(smap.backing_storage)
        count = len(vios_w.scsi_mappings)
        self.assertEqual([smap.element.element], [
            m.element.element for m in scsi_maps.remove_maps(vios_w, client)])
        got = vios_post.update(vios_w)
        # The POSTed tree is the answer's.
        self.assertIs(tree, got.element.element)
        self.assertEqual(count - 1, len(got.scsi_mappings))
        self._same_as_read(got)

        # Added back (the server fills in the adapters and target device).
        stg.element.adapter = self.adapter
        new = scsi_maps.map_storage(got, client, stg)
        self.assertIsNotNone(new)
        again = vios_post.update(got)
        self.assertIs(tree, again.element.element)
        self.assertEqual(count, len(again.scsi_mappings))
        self.assertIsNotNone(again.scsi_mappings[-1].target_dev)
        self._same_as_read(again)

    def test_same_request_as_pypowervm(self):
        vios_w = self._vios()
        scsi_maps.remove_maps(vios_w, self._client(vios_w.scsi_mappings[0]))
        twin = copy.deepcopy(vios_w)
        seen = []

        def spy(func):
            def request(*args, **kwargs):
                seen.append((args, kwargs))
                return func(*args, **kwargs)
            return request
        spied = pvm_adpt.Adapter(self.sess, helpers=[spy])
        for wrapper in (vios_w, twin):
            wrapper.entry.element.adapter = spied
        vios_post.update(vios_w)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            # pypowervm's update of the same VIOS, now stale: 412.
            self.assertRaises(pvm_exc.HttpError, twin.update)
        self.assertEqual(2, len(seen))
        self.assertEqual(seen[0], seen[1])

    def _answer_of_removal(self):
        """(POSTed tree, the POST's Response) of a mapping's removal.

        The Response's entry is parsed as pypowervm does (nothing built).
        """
        vios_w = self._vios()
        scsi_maps.remove_maps(vios_w, self._client(vios_w.scsi_mappings[2]))
        tree = vios_w.element.element
        resp = self.adapter.update_by_path(
            vios_w, vios_w.etag, pvm_util.dice_href(vios_w.href))
        return tree, resp

    def test_answer_differing_elsewhere_is_parsed(self):
        tree, resp = self._answer_of_removal()
        posted = etree.tostring(tree)
        # The server changed a VIOS property too.
        body = resp.body.replace('>VIOS 2.2.3.1<', '>VIOS 2.2.3.2<')
        self.assertNotEqual(body, resp.body)
        resp.body = body
        self.assertIsNone(vios_post.adopt(tree, resp))
        self.assertEqual(posted, etree.tostring(tree))
        # As it was.
        resp.body = resp.body.replace('>VIOS 2.2.3.2<', '>VIOS 2.2.3.1<')
        self.assertIs(tree, vios_post.adopt(tree, resp).element.element)

    def test_answer_with_mappings_reordered_is_parsed(self):
        tree, resp = self._answer_of_removal()
        posted = etree.tostring(tree)
        body = resp.body.encode('utf-8')
        spans = vios_post._spans(body, 0, len(body))
        (s1, e1), (s2, e2) = spans[0], spans[1]
        resp.body = (body[:s1] + body[s2:e2] + body[s1:e1] +
                     body[e2:]).decode('utf-8')
        self.assertIsNone(vios_post.adopt(tree, resp))
        self.assertEqual(posted, etree.tostring(tree))

    def test_align(self):
        align = vios_post._align
        self.assertEqual(([], []), align([b'a', b'b'], [b'a', b'b']))
        self.assertEqual(([1], [(2, None)]),
                         align([b'a', b'c', b'x'], [b'a', b'b', b'c']))
        self.assertEqual(([0], [(0, 1)]), align([b'x', b'b'], [b'a', b'b']))
        self.assertEqual(([], [(1, 1)]),
                         align([b'a', b'a', b'b'], [b'a', b'b']))
        self.assertIsNone(align([b'b', b'a'], [b'a', b'b']))

    def test_batch_commit_posts_its_own_base_so(self):
        vios_w = self._vios()
        tree = vios_w.element.element
        client = self._client(vios_w.scsi_mappings[0])
        getter = pvm_vios.VIOS.getter(self.adapter, entry_uuid=vios_w.uuid,
                                      xag=_XAG)

        def unmap(wrapper):
            return scsi_maps.remove_maps(wrapper, client)
        got, removed = batch.update(
            batch.vios_key(vios_w.uuid, _XAG), getter, unmap,
            wrapper=vios_w, owned=True, answer=batch.LEND)
        self.assertEqual(1, len(removed))
        self.assertIs(tree, got.element.element)
        self._same_as_read(got)
        # Only while the POST is made.
        self.assertNotIn('update', vars(vios_w))

    def test_donated_only_in_the_block(self):
        vios_w = self._vios()
        with vios_post.donated(vios_w):
            self.assertEqual(vios_post.update, vios_w.update.func)
            self.assertEqual((vios_w,), vios_w.update.args)
        self.assertNotIn('update', vars(vios_w))
        try:
            with vios_post.donated(vios_w):
                raise ValueError()
        except ValueError:
            pass
        self.assertNotIn('update', vars(vios_w))
        # Other wrappers: unchanged.
        other = mock.Mock(spec=[])
        with vios_post.donated(other):
            self.assertFalse(hasattr(other, 'update'))

    def test_answer_helper_parses_what_it_cannot_build(self):
        vios_w = self._vios()
        calls = []

        def build(resp):
            calls.append(resp)
            return None
        resp = self.adapter.update_by_path(
            vios_w, vios_w.etag, pvm_util.dice_href(vios_w.href),
            helpers=[pvm_private.answer_helper(build)])
        self.assertEqual([resp], calls)
        # pypowervm's parse: a new tree.
        got = pvm_vios.VIOS.wrap(resp)
        self.assertIsNot(vios_w.element.element, got.element.element)
        self._same_as_read(got)
