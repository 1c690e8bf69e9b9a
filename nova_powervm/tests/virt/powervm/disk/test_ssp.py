"""Unit tests for the Shared Storage Pool disk driver (pypowervm mocked)."""
import threading
import time
from unittest import mock

import fixtures
from nova import objects
from nova import test
from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm.tests.virt.powervm.disk import fake_adapter
from nova_powervm.virt.powervm.disk import ssp
from nova_powervm.virt.powervm import exception as exc

IMG_ID = '7b2c4a9e-1111-4222-8333-944455556666'
INST_UUID = '4d6a0c1b-aaaa-4bbb-8ccc-ddddeeeeffff'


def _lu(adpt, name, udid, typ=pvm_stg.LUType.DISK, cap=1.0, clone=None):
    lu = pvm_stg.LUEnt.bld(adpt, name, cap, typ=typ)
    lu._udid(udid)
    if clone is not None:
        lu._cloned_from_udid(clone.udid)
    return lu


HOST = '1a2b3c4d-0000-4000-8000-000000000001'
OTHER_HOST = '1a2b3c4d-0000-4000-8000-000000000002'


def _node(vios_uuid, host=HOST):
    uri = vios_uuid and ('https://h:12443/rest/api/uom/ManagedSystem/%s/'
                         'VirtualIOServer/%s' % (host, vios_uuid))
    return mock.Mock(vios_uuid=vios_uuid, vios_uri=uri)


def _cluster(name, nodes=('vios-1',), ssp_uuid='ssp-uuid', foreign=()):
    clust = mock.Mock(uuid='clust-' + name, ssp_uuid=ssp_uuid,
                      nodes=[_node(v) for v in nodes] +
                      [_node(v, host=OTHER_HOST) for v in foreign])
    clust.name = name
    return clust


def _image_meta(size=3 * 1024 ** 2):
    return objects.ImageMeta.from_dict(
        {'id': IMG_ID, 'name': 'img', 'size': size,
         'checksum': 'abc123', 'disk_format': 'raw',
         'container_format': 'bare'})


def _instance(root_gb=5):
    inst = mock.Mock(uuid=INST_UUID, flavor=mock.Mock(root_gb=root_gb))
    inst.name = 'inst-1'
    return inst


class SSPTestBase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.adpt = fake_adapter.adapter()
        self.mock_clust_get = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.cluster.Cluster.get')).mock
        self.mock_tier_search = self.useFixture(fixtures.MockPatch(
            'pypowervm.wrappers.storage.Tier.search')).mock
        self.tier = mock.Mock(spec=pvm_stg.Tier)
        self.tier.name = 'SYSTEM'
        self.mock_tier_search.return_value = self.tier
        self.mock_clust_get.return_value = [_cluster('clust1')]
        # The upload adapter (with the failed-DELETE helper): the mock.
        self.mock_rec = self.useFixture(fixtures.MockPatch(
            'nova_powervm.virt.powervm.image.recording_adapter',
            return_value=self.adpt)).mock

    def make(self, cluster_name=''):
        self.flags(cluster_name=cluster_name, group='powervm')
        return ssp.SSPDiskAdapter(self.adpt, HOST)


class TestInit(SSPTestBase):

    def test_only_cluster_unnamed(self):
        drv = self.make()
        self.assertEqual('clust1', drv.cluster_name)
        self.assertEqual(['vios-1'], drv.vios_uuids)
        self.mock_tier_search.assert_called_once_with(
            self.adpt, parent_type=pvm_stg.SSP, parent_uuid='ssp-uuid',
            is_default=True, one_result=True)
        self.assertTrue(drv.capabilities['shared_storage'])
        self.assertTrue(drv.capabilities['has_imagecache'])

    def test_named_cluster(self):
        self.mock_clust_get.return_value = [
            _cluster('a', nodes=('v-a',)), _cluster('b', nodes=('v-b', None,
                                                               'v-c'))]
        drv = self.make('b')
        self.assertEqual('b', drv.cluster_name)
        # Only member VIOSes of this host (vios link set) map disks.
        self.assertEqual(['v-b', 'v-c'], drv.vios_uuids)

    def test_named_cluster_missing(self):
        self.mock_clust_get.return_value = [_cluster('a')]
        e = self.assertRaises(exc.ClusterNotFound, self.make, 'zz')
        self.assertIn('zz', str(e))
        self.mock_tier_search.assert_not_called()

    def test_no_cluster(self):
        self.mock_clust_get.return_value = []
        self.assertRaises(exc.NoClusterFound, self.make)

    def test_several_clusters_unnamed(self):
        self.mock_clust_get.return_value = [_cluster('b'), _cluster('a')]
        e = self.assertRaises(exc.TooManyClusters, self.make)
        self.assertIn('a, b', str(e))

    def test_no_local_node(self):
        self.mock_clust_get.return_value = [_cluster('a', nodes=(None,))]
        self.assertRaises(exc.ClusterHasNoLocalNode, self.make)

    def test_other_hosts_nodes_never_used(self):
        self.mock_clust_get.return_value = [
            _cluster('a', nodes=('v-1',), foreign=('v-9', 'v-8'))]
        self.assertEqual(['v-1'], self.make().vios_uuids)
        # Only other hosts' VIOSes in the cluster: not usable here.
        self.mock_clust_get.return_value = [
            _cluster('a', nodes=(), foreign=('v-9',))]
        self.assertRaises(exc.ClusterHasNoLocalNode, self.make)

    def test_node_list_reread_after_expiry(self):
        drv = self.make()
        self.mock_clust_get.reset_mock()
        self.assertEqual(['vios-1'], drv.vios_uuids)
        self.mock_clust_get.assert_not_called()
        self.mock_clust_get.return_value = _cluster(
            'clust1', nodes=('vios-1', 'vios-2'))
        with mock.patch.object(time, 'monotonic',
                               return_value=time.monotonic() + 61):
            self.assertEqual(['vios-1', 'vios-2'], drv.vios_uuids)
        self.mock_clust_get.assert_called_once_with(
            self.adpt, uuid='clust-clust1')
        # The VIOS left the cluster: no local node any more.
        self.mock_clust_get.return_value = _cluster('clust1', nodes=())
        with mock.patch.object(time, 'monotonic',
                               return_value=time.monotonic() + 200):
            self.assertRaises(exc.ClusterHasNoLocalNode,
                              lambda: drv.vios_uuids)


class TestCapacity(SSPTestBase):

    @mock.patch('pypowervm.wrappers.storage.SSP.get')
    def test_capacity_one_read(self, mock_get):
        mock_get.return_value = mock.Mock(capacity=100.0, free_space=40.0)
        drv = self.make()
        self.assertEqual(100.0, drv.capacity)
        self.assertEqual(60.0, drv.capacity_used)
        mock_get.assert_called_once_with(self.adpt, uuid='ssp-uuid')

    @mock.patch('pypowervm.wrappers.storage.SSP.get')
    def test_capacity_reread_after_expiry(self, mock_get):
        mock_get.return_value = mock.Mock(capacity=100.0, free_space=40.0)
        drv = self.make()
        drv.capacity
        with mock.patch.object(time, 'monotonic',
                               return_value=time.monotonic() + 60):
            drv.capacity
        self.assertEqual(2, mock_get.call_count)


def _is_marker(kind):
    return mock.ANY if kind is None else _Prefix(kind)


class _Prefix(str):
    """Equal to any string starting with it (a marker LU name)."""

    def __eq__(self, other):
        return isinstance(other, str) and other.startswith(str(self))

    __hash__ = str.__hash__


@mock.patch('pypowervm.tasks.partition.get_active_vioses')
@mock.patch('pypowervm.tasks.storage.crt_lu')
@mock.patch('pypowervm.tasks.cluster_ssp.get_or_upload_image_lu')
@mock.patch('nova_powervm.virt.powervm.image.image_stream')
@mock.patch('pypowervm.wrappers.storage.LUEnt.get')
class TestCreateDisk(SSPTestBase):

    def setUp(self):
        super().setUp()
        self.mock_clust_get.return_value = [
            _cluster('clust1', nodes=('vios-1', 'vios-2'))]
        self.drv = self.make()
        self.new_lu = _lu(self.adpt, 'new_lu', '27cc')
        self.luname = 'image_' + IMG_ID.replace('-', '')
        self.key = ssp._image_key(self.luname)

    def _crt(self, tier, name, *args, **kwargs):
        """crt_lu: a marker (a mock) or the clone (self.new_lu)."""
        if kwargs.get('clone') is not None:
            return tier, self.new_lu
        return tier, mock.Mock()

    def _marker_call(self, kind):
        return mock.call(self.tier, _Prefix(kind), 0.001, thin=True,
                         typ=pvm_stg.LUType.IMAGE)

    def test_image_lu_name(self, *mocks):
        self.assertEqual(self.luname,
                         self.drv.image_lu_name(_image_meta()))

    def test_existing_image_lu_is_cloned(self, mock_lus, mock_stream,
                                         mock_upload, mock_crt, mock_act):
        img_lu = _lu(self.adpt, self.luname, '27aa', pvm_stg.LUType.IMAGE)
        mock_lus.return_value = [
            _lu(self.adpt, 'other', '27bb', pvm_stg.LUType.IMAGE), img_lu]
        marker = mock.Mock()
        mock_crt.side_effect = [(self.tier, marker), (self.tier, self.new_lu)]
        inst = _instance(root_gb=7)
        ret = self.drv.create_disk_from_image('ctx', inst, _image_meta())
        self.assertEqual(self.new_lu, ret)
        mock_stream.assert_not_called()
        mock_upload.assert_not_called()
        mock_act.assert_not_called()
        # Clone marker, LU list, clone, then the marker's removal: one GET.
        self.assertEqual(
            [self._marker_call('cln'),
             mock.call(self.tier, self.drv.get_disk_name('boot', inst), 7,
                       thin=True, typ=pvm_stg.LUType.DISK, clone=img_lu)],
            mock_crt.call_args_list)
        mock_lus.assert_called_once_with(self.adpt, parent=self.tier)
        marker.delete.assert_called_once_with()
        name = mock_crt.call_args_list[0][0][1]
        self.assertTrue(name.endswith('_' + self.key), name)
        self.assertNotIn(self.luname, name)

    def test_marker_removed_after_clone(self, mock_lus, mock_stream,
                                        mock_upload, mock_crt, mock_act):
        img_lu = _lu(self.adpt, self.luname, '27aa', pvm_stg.LUType.IMAGE)
        made = []

        def crt(tier, name, *args, **kwargs):
            lu = _lu(self.adpt, name, '27f%d' % len(made),
                     pvm_stg.LUType.IMAGE)
            lu.delete = mock.Mock()
            made.append(lu)
            return tier, lu
        mock_crt.side_effect = crt
        mock_lus.side_effect = lambda *a, **k: [img_lu] + made
        self.drv.create_disk_from_image('ctx', _instance(), _image_meta())
        made[0].delete.assert_called_once_with()
        made[1].delete.assert_not_called()

    def test_marker_removed_when_clone_fails(self, mock_lus, mock_stream,
                                             mock_upload, mock_crt,
                                             mock_act):
        img_lu = _lu(self.adpt, self.luname, '27aa', pvm_stg.LUType.IMAGE)
        marker = []

        def crt(tier, name, *args, **kwargs):
            if kwargs.get('clone') is not None:
                raise ValueError('clone failed')
            lu = _lu(self.adpt, name, '27f0', pvm_stg.LUType.IMAGE)
            lu.delete = mock.Mock()
            marker.append(lu)
            return tier, lu
        mock_crt.side_effect = crt
        mock_lus.side_effect = lambda *a, **k: [img_lu] + marker
        self.assertRaises(ValueError, self.drv.create_disk_from_image,
                          'ctx', _instance(), _image_meta())
        marker[0].delete.assert_called_once_with()

    def test_waits_for_another_hosts_removal(self, mock_lus, mock_stream,
                                             mock_upload, mock_crt,
                                             mock_act):
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.disk.ssp._DELETE_POLL_SECONDS', 0))
        img_lu = _lu(self.adpt, self.luname, '27aa', pvm_stg.LUType.IMAGE)
        removal = _lu(self.adpt, 'del12345678_' + self.key, '27dd',
                      pvm_stg.LUType.IMAGE)
        # Per attempt: the list after the marker (removed by its wrapper).
        mock_lus.side_effect = [[img_lu, removal], [img_lu, removal],
                                [img_lu]]
        mock_crt.side_effect = self._crt
        self.assertEqual(self.new_lu, self.drv.create_disk_from_image(
            'ctx', _instance(), _image_meta()))
        # Three clone markers placed; only the last attempt cloned.
        self.assertEqual(4, mock_crt.call_count)
        self.assertEqual(img_lu, mock_crt.call_args[1]['clone'])

    def test_stale_removal_marker_is_removed(self, mock_lus, mock_stream,
                                             mock_upload, mock_crt,
                                             mock_act):
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.disk.ssp._DELETE_WAIT_SECONDS', -1))
        img_lu = _lu(self.adpt, self.luname, '27aa', pvm_stg.LUType.IMAGE)
        removal = _lu(self.adpt, 'del12345678_' + self.key, '27dd',
                      pvm_stg.LUType.IMAGE)
        removal.delete = mock.Mock()
        marker = mock.Mock()
        mock_lus.side_effect = [[img_lu, removal], [img_lu]]
        mock_crt.return_value = (self.tier, marker)
        self.drv.create_disk_from_image('ctx', _instance(), _image_meta())
        removal.delete.assert_called_once_with()
        # Our own markers (two attempts) are removed directly.
        self.assertEqual(2, marker.delete.call_count)

    def test_upload_when_absent(self, mock_lus, mock_stream, mock_upload,
                                mock_crt, mock_act):
        mock_lus.return_value = []
        stream = mock.Mock()
        mock_stream.return_value = (stream, 3145728)
        mock_upload.return_value = 'img_lu'
        mock_crt.return_value = (self.tier, self.new_lu)
        # The first member VIOS is not active: the upload uses the second.
        mock_act.return_value = [mock.Mock(uuid='VIOS-2')]
        self.drv.create_disk_from_image('ctx', _instance(0), _image_meta())
        mock_stream.assert_called_once_with('ctx', IMG_ID, size=3145728,
                                            checksum='abc123')
        mock_act.assert_called_once_with(self.adpt)
        mock_upload.assert_called_once_with(
            self.tier, self.luname, 'vios-2', stream, 3145728,
            upload_type=tsk_stg.UploadType.IO_STREAM)
        stream.close.assert_called_once_with()
        self.assertEqual('img_lu', mock_crt.call_args[1]['clone'])

    def test_no_active_vios_refused(self, mock_lus, mock_stream, mock_upload,
                                    mock_crt, mock_act):
        mock_lus.return_value = []
        stream = mock.Mock()
        mock_stream.return_value = (stream, 10)
        mock_act.return_value = [mock.Mock(uuid='OTHER')]
        marker = mock.Mock()
        mock_crt.return_value = (self.tier, marker)
        e = self.assertRaises(exc.NoActiveClusterVIOS,
                              self.drv.create_disk_from_image, 'ctx',
                              _instance(), _image_meta())
        self.assertIn('vios-1, vios-2', str(e))
        mock_upload.assert_not_called()
        stream.close.assert_called_once_with()
        marker.delete.assert_called_once_with()

    def test_upload_failure_closes_stream_no_clone(
            self, mock_lus, mock_stream, mock_upload, mock_crt, mock_act):
        mock_lus.return_value = []
        stream = mock.Mock()
        mock_stream.return_value = (stream, 10)
        mock_act.return_value = [mock.Mock(uuid='VIOS-1')]
        mock_crt.return_value = (self.tier, 'marker')
        mock_upload.side_effect = ValueError('boom')
        self.assertRaises(ValueError, self.drv.create_disk_from_image,
                          'ctx', _instance(), _image_meta())
        stream.close.assert_called_once_with()
        self.assertEqual([self._marker_call('cln')],
                         mock_crt.call_args_list)

    def test_failed_deletes_of_the_upload_are_redone(
            self, mock_lus, mock_stream, mock_upload, mock_crt, mock_act):
        from pypowervm import exceptions as pvm_exc
        mock_stream.return_value = (mock.Mock(), 10)
        mock_act.return_value = [mock.Mock(uuid='VIOS-1')]
        mock_crt.return_value = (self.tier, self.new_lu)
        img_lu = _lu(self.adpt, self.luname, '27aa', pvm_stg.LUType.IMAGE)
        lu_path = '/rest/api/uom/Tier/t/LogicalUnit/m1'
        file_path = '/rest/api/web/File/f1'

        def server(method, path, *args, **kwargs):
            raise pvm_exc.ConnectionError('DELETE failed')

        def upload(*args, **kwargs):
            # pypowervm fails to delete its marker LU and the File record
            # (both through the upload adapter's helper) and raises.
            request = self.drv._failed_writes(server)
            for path in (file_path, lu_path):
                self.assertRaises(pvm_exc.ConnectionError, request,
                                  'DELETE', path)
            raise pvm_exc.ConnectionError('DELETE failed')
        mock_upload.side_effect = upload
        # Before, marker/clone list, after the redone DELETEs: the image.
        mock_lus.side_effect = [[], [img_lu], []]
        self.assertEqual(self.new_lu, self.drv.create_disk_from_image(
            'ctx', _instance(), _image_meta()))
        self.assertEqual([mock.call(file_path), mock.call(lu_path)],
                         self.adpt.delete_by_path.call_args_list)
        self.assertEqual(img_lu, mock_crt.call_args[1]['clone'])

    def test_marker_whose_creation_answer_was_lost_is_removed(
            self, mock_lus, mock_stream, mock_upload, mock_crt, mock_act):
        from pypowervm import exceptions as pvm_exc
        made = []

        def crt(tier, name, *args, **kwargs):
            # The server made the marker; the answer was lost.
            lu = _lu(self.adpt, name, '27f0', pvm_stg.LUType.IMAGE)
            lu.delete = mock.Mock()
            made.append(lu)
            raise pvm_exc.ConnectionError('answer lost')
        mock_crt.side_effect = crt
        mock_lus.side_effect = lambda *a, **k: list(made)
        self.assertRaises(pvm_exc.ConnectionError,
                          self.drv.create_disk_from_image, 'ctx',
                          _instance(), _image_meta())
        # Found by its (random) name and deleted; nothing else was done.
        made[0].delete.assert_called_once_with()
        self.assertEqual(1, mock_crt.call_count)
        mock_upload.assert_not_called()

    def test_lu_whose_creation_answer_was_lost_is_removed(
            self, mock_lus, mock_stream, mock_upload, mock_crt, mock_act):
        from pypowervm import exceptions as pvm_exc
        mock_stream.return_value = (mock.Mock(), 10)
        mock_act.return_value = [mock.Mock(uuid='VIOS-1')]
        marker = mock.Mock()
        mock_crt.return_value = (self.tier, marker)
        body = '<uom:UnitName>part0000abcd%s</uom:UnitName>' % self.luname
        leaked = _lu(self.adpt, 'part0000abcd' + self.luname, '27ee',
                     pvm_stg.LUType.IMAGE)
        leaked.delete = mock.Mock()

        def server(method, path, *args, **kwargs):
            raise pvm_exc.ConnectionError('answer lost')

        def upload(*args, **kwargs):
            # pypowervm's marker LU creation: made, but the answer lost.
            self.assertRaises(pvm_exc.ConnectionError,
                              self.drv._failed_writes(server), 'PUT',
                              '/rest/api/uom/Tier/t/LogicalUnit', body=body)
            raise pvm_exc.ConnectionError('answer lost')
        mock_upload.side_effect = upload
        mock_lus.side_effect = [[], [leaked]]
        self.assertRaises(pvm_exc.ConnectionError,
                          self.drv.create_disk_from_image, 'ctx',
                          _instance(), _image_meta())
        leaked.delete.assert_called_once_with()
        marker.delete.assert_called_once_with()

    def test_concurrent_spawns_upload_once(self, mock_lus, mock_stream,
                                           mock_upload, mock_crt, mock_act):
        pool = []
        mock_lus.side_effect = lambda *a, **k: list(pool)
        mock_stream.return_value = (mock.Mock(), 10)
        mock_act.return_value = [mock.Mock(uuid='VIOS-1')]

        def upload(tier, luname, *args, **kwargs):
            time.sleep(0.05)
            lu = _lu(self.adpt, luname, '27cc', pvm_stg.LUType.IMAGE)
            pool.append(lu)
            return lu
        mock_upload.side_effect = upload
        mock_crt.side_effect = self._crt
        errors = []

        def spawn(i):
            try:
                inst = _instance()
                inst.uuid = INST_UUID[:-1] + str(i)
                self.drv.create_disk_from_image('ctx', inst, _image_meta())
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
        threads = [threading.Thread(target=spawn, args=(i,))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([], errors)
        self.assertEqual(1, mock_upload.call_count)
        # A clone marker and a clone per spawn.
        self.assertEqual(8, mock_crt.call_count)
        self.assertEqual(1, len(pool))


class TestDeleteExtend(SSPTestBase):

    def setUp(self):
        super().setUp()
        self.drv = self.make()

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_delete_keeps_image_lu(self, mock_get):
        img = _lu(self.adpt, 'image_x', '27aa', typ=pvm_stg.LUType.IMAGE)
        boot = _lu(self.adpt, 'boot_x', '27dd', clone=img)
        other = _lu(self.adpt, 'boot_y', '27ee', clone=img)
        for lu in (img, boot, other):
            lu.delete = mock.Mock()
        mock_get.return_value = [img, boot, other]
        self.drv.delete_disks([_lu(self.adpt, 'boot_x', '27dd'),
                               _lu(self.adpt, 'image_x', '27aa')])
        boot.delete.assert_called_once_with()
        img.delete.assert_not_called()
        other.delete.assert_not_called()

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_delete_failure_raised_absent_ignored(self, mock_get):
        from pypowervm import exceptions as pvm_exc
        boot = _lu(self.adpt, 'boot_x', '27dd')
        mock_get.return_value = [boot]
        resp = mock.Mock(status=500, body=b'', reason='x',
                         reqmethod='DELETE', reqpath='/rest/api/uom/x')
        boot.delete = mock.Mock(side_effect=pvm_exc.HttpError(resp))
        self.assertRaises(pvm_exc.HttpError, self.drv.delete_disks, [boot])
        resp.status = 404
        boot.delete.side_effect = pvm_exc.HttpNotFound(resp)
        self.drv.delete_disks([boot])

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_delete_nothing(self, mock_get):
        self.drv.delete_disks([])
        mock_get.assert_not_called()

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_detach_without_mapping_returns_boot_lu(self, mock_get):
        inst = _instance()
        name = self.drv.get_disk_name('boot', inst)
        boot = _lu(self.adpt, name, '27dd')
        mock_get.return_value = [
            _lu(self.adpt, name, '27aa', typ=pvm_stg.LUType.IMAGE), boot,
            _lu(self.adpt, 'boot_other', '27ee')]
        with mock.patch.object(self.drv, '_vios_feed', return_value=[]):
            self.assertEqual([boot], self.drv.detach_disk(inst))

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_extend_grows(self, mock_get):
        lu = _lu(self.adpt, 'boot_x', '27dd', cap=5)
        ent = _lu(self.adpt, 'boot_x', '27dd', cap=5)
        ent.update = mock.Mock()
        mock_get.return_value = [_lu(self.adpt, 'o', '27ee'), ent]
        self.drv.extend_disk(_instance(), lu, 10)
        self.assertEqual(10.0, ent.capacity)
        ent.update.assert_called_once_with()

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_extend_without_disk_info_reads_only_the_lus(self, mock_get):
        # The boot LU by name in the tier's LUs: not the VIOSes' mappings
        # (one per disk of every partition of the host).
        inst = _instance()
        name = self.drv.get_disk_name('boot', inst)
        ent = _lu(self.adpt, name, '27dd', cap=5)
        ent.update = mock.Mock()
        image = _lu(self.adpt, name, '27aa', typ=pvm_stg.LUType.IMAGE)
        image.update = mock.Mock()
        mock_get.return_value = [image, _lu(self.adpt, 'o', '27ee'), ent]
        with mock.patch.object(self.drv, '_vios_feed') as vios_feed:
            self.drv.extend_disk(inst, None, 10)
            vios_feed.assert_not_called()
        mock_get.assert_called_once_with(self.adpt, parent=self.drv._tier)
        self.assertEqual(10.0, ent.capacity)
        ent.update.assert_called_once_with()
        image.update.assert_not_called()
        # Same size: nothing posted; smaller: refused; none: not found.
        self.drv.extend_disk(inst, None, 10)
        ent.update.assert_called_once_with()
        self.assertRaises(exc.DiskShrinkNotSupported, self.drv.extend_disk,
                          inst, None, 8)
        mock_get.return_value = [image]
        self.assertRaises(exc.DiskExtendNotSupported, self.drv.extend_disk,
                          inst, None, 20)

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_extend_same_size_noop(self, mock_get):
        self.drv.extend_disk(_instance(), _lu(self.adpt, 'b', '27dd', cap=5),
                             5)
        mock_get.assert_not_called()

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_extend_shrink_refused(self, mock_get):
        self.assertRaises(exc.DiskShrinkNotSupported, self.drv.extend_disk,
                          _instance(), _lu(self.adpt, 'b', '27dd', cap=5), 2)
        mock_get.assert_not_called()

    @mock.patch('pypowervm.wrappers.storage.LUEnt.get')
    def test_extend_lu_gone(self, mock_get):
        mock_get.return_value = []
        self.assertRaises(exc.DiskExtendNotSupported, self.drv.extend_disk,
                          _instance(), _lu(self.adpt, 'b', '27dd', cap=5), 8)


@mock.patch('pypowervm.tasks.storage.crt_lu')
@mock.patch('pypowervm.tasks.storage.rm_tier_storage')
@mock.patch('pypowervm.wrappers.storage.LUEnt.get')
class TestImageCache(SSPTestBase):

    def setUp(self):
        super().setUp()
        self.drv = self.make()
        img = pvm_stg.LUType.IMAGE
        self.used = _lu(self.adpt, 'image_used', '27a1', img)
        self.unused = _lu(self.adpt, 'image_unused', '27a2', img)
        self.uploading = _lu(self.adpt, 'image_upl', '27a3', img)
        self.marker = _lu(self.adpt, 'partabcd1234image_upl', '27a4', img)
        self.foreign = _lu(self.adpt, 'golden', '27a5', img)
        self.clone = _lu(self.adpt, 'boot_x', '27b1', clone=self.used)
        self.feed = [self.used, self.unused, self.uploading, self.marker,
                     self.foreign, self.clone]

    def test_removes_only_unused_own_images(self, mock_get, mock_rm,
                                            mock_crt):
        mock_get.return_value = self.feed
        mock_crt.return_value = (self.tier, 'marker')
        self.drv.manage_image_cache('ctx', [])
        mock_rm.assert_called_once_with([self.unused], lufeed=self.feed,
                                        del_unused_images=False)
        # The deletion marker was placed before the re-read.
        mock_crt.assert_called_once_with(
            self.tier, _Prefix('del'), 0.001, thin=True,
            typ=pvm_stg.LUType.IMAGE)
        name = mock_crt.call_args[0][1]
        self.assertTrue(name.endswith(ssp._image_key('image_unused')))
        # Listing, re-listing after the marker, and the marker's removal.
        self.assertEqual(3, mock_get.call_count)

    def test_recheck_under_lock(self, mock_get, mock_rm, mock_crt):
        # A clone of the candidate appeared before the lock was taken.
        mock_crt.return_value = (self.tier, 'marker')
        late_clone = _lu(self.adpt, 'boot_y', '27b2', clone=self.unused)
        mock_get.side_effect = [self.feed, self.feed + [late_clone], []]
        self.drv.manage_image_cache('ctx', [])
        mock_rm.assert_not_called()

    def test_another_hosts_clone_marker_keeps_image(self, mock_get, mock_rm,
                                                    mock_crt):
        mock_crt.return_value = (self.tier, 'marker')
        cloning = _lu(self.adpt, 'cln0badc0de_' +
                      ssp._image_key('image_unused'), '27c1',
                      pvm_stg.LUType.IMAGE)
        # Seen at the first listing: not even a candidate.
        mock_get.return_value = self.feed + [cloning]
        self.drv.manage_image_cache('ctx', [])
        mock_rm.assert_not_called()
        mock_crt.assert_not_called()
        # Seen only after this host's deletion marker: kept too.
        mock_get.reset_mock()
        mock_get.side_effect = [self.feed, self.feed + [cloning], []]
        self.drv.manage_image_cache('ctx', [])
        mock_rm.assert_not_called()
        self.assertEqual(1, mock_crt.call_count)

    def test_disabled_by_config(self, mock_get, mock_rm, mock_crt):
        self.flags(remove_unused_base_images=False, group='image_cache')
        self.drv.manage_image_cache('ctx', [])
        mock_get.assert_not_called()
        mock_rm.assert_not_called()
        mock_crt.assert_not_called()
