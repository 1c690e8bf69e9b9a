"""Unit tests for the SSP driver's LU index (pypowervm mocked)."""
from unittest import mock

from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm.tests.virt.powervm.disk import fake_adapter
from nova_powervm.virt.powervm.disk import ssp_lus

U1 = '11111111-0000-4000-8000-000000000001'
U2 = '11111111-0000-4000-8000-000000000002'
U3 = '11111111-0000-4000-8000-000000000003'


class _LUEnt(pvm_stg.LUEnt):
    # As read from the server: the entry's UUID (bld makes none).
    uuid = None


def _lu(adpt, name, udid, uuid, typ=pvm_stg.LUType.DISK):
    lu = _LUEnt.bld(adpt, name, 1.0, typ=typ)
    lu._udid(udid)
    lu.uuid = uuid
    return lu


def _not_found():
    resp = mock.Mock(status=404, body=b'', reason='Not Found',
                     reqmethod='GET', reqpath='/rest/api/uom/x')
    return pvm_exc.HttpNotFound(resp)


class TestLUIndex(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = fake_adapter.adapter()
        self.tier = mock.Mock(spec=pvm_stg.Tier)
        self.index = ssp_lus.LUIndex(self.adpt, self.tier)
        self.feed = []
        self.entries = {}
        patcher = mock.patch('pypowervm.wrappers.storage.LUEnt.get',
                             side_effect=self._get)
        self.mock_get = patcher.start()
        self.addCleanup(patcher.stop)

    def _get(self, adapter, uuid=None, parent=None):
        self.assertIs(self.tier, parent)
        if uuid is None:
            return list(self.feed)
        if uuid not in self.entries:
            raise _not_found()
        return self.entries[uuid]

    def _calls(self):
        """'feed' or the UUID read, per LUEnt.get call."""
        return [c.kwargs.get('uuid') or 'feed'
                for c in self.mock_get.call_args_list]

    def test_created_lu_read_alone(self):
        lu = _lu(self.adpt, 'boot_a', '27aa', U1)
        self.index.note(lu)
        self.entries[U1] = lu
        self.feed = [lu] + [_lu(self.adpt, 'o%d' % n, '27f%d' % n, U3)
                            for n in range(5)]
        self.assertEqual({'27aa': lu}, self.index.by_udid(['27aa']))
        self.assertEqual([U1], self._calls())

    def test_unknown_lu_one_feed_read_renews_the_index(self):
        a = _lu(self.adpt, 'boot_a', '27aa', U1)
        b = _lu(self.adpt, 'boot_b', '27bb', U2)
        img = _lu(self.adpt, 'image_x', '29cc', U3, typ=pvm_stg.LUType.IMAGE)
        self.feed = [a, b, img]
        self.entries = {U1: a, U2: b, U3: img}
        self.assertEqual({'27aa': a, '29cc': img},
                         self.index.by_udid(['27aa', '29cc', '27zz']))
        self.assertEqual(['feed'], self._calls())
        # The feed's disk LUs are known now (image LUs are not kept).
        self.mock_get.reset_mock()
        self.assertEqual({'27bb': b}, self.index.by_udid(['27bb']))
        self.assertEqual([U2], self._calls())

    def test_gone_entry_falls_back_to_the_feed(self):
        # The remembered UUID is not found: the feed decides (the LU may
        # be known under another UUID).
        old = _lu(self.adpt, 'boot_a', '27aa', U1)
        self.index.note(old)
        moved = _lu(self.adpt, 'boot_a', '27aa', U2)
        self.feed = [moved]
        self.assertEqual({'27aa': moved}, self.index.by_udid(['27aa']))
        self.assertEqual([U1, 'feed'], self._calls())
        # Not in the feed either: absent.
        self.feed = []
        self.entries = {}
        self.assertEqual({}, self.index.by_udid(['27aa']))

    def test_uuid_of_another_lu_is_not_used(self):
        # The remembered UUID now names another LU (e.g. one re-created
        # under the same name): never returned for this UDID.
        self.index.note(_lu(self.adpt, 'boot_a', '27aa', U1))
        self.entries[U1] = _lu(self.adpt, 'boot_a', '27ab', U1)
        self.feed = [self.entries[U1]]
        self.assertEqual({}, self.index.by_udid(['27aa']))
        self.assertEqual([U1, 'feed'], self._calls())

    def test_each_feed_read_replaces_the_index(self):
        a = _lu(self.adpt, 'boot_a', '27aa', U1)
        self.index.note(a)
        self.index.note(_lu(self.adpt, 'img', '29bb', U2,
                            typ=pvm_stg.LUType.IMAGE))
        self.assertEqual({'27aa': U1}, self.index._uuids)
        self.feed = [_lu(self.adpt, 'boot_c', '27cc', U3)]
        self.index.feed()
        self.assertEqual({'27cc': U3}, self.index._uuids)
        self.index.forget('27cc')
        self.assertEqual({}, self.index._uuids)
