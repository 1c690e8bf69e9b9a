"""A mocked pypowervm adapter over an in-memory VIOS feed (unit tests).

The feed starts as pypowervm's recorded ``fake_vios_feed.txt`` (two
running VIOSes, two physical FC ports each).  GETs of the VIOS feed return
copies of the current state; ``update_by_path`` (a wrapper's POST) stores
the posted VIOS, so a later GET sees it, and records it in ``posts``.
Failures are injected with ``fail_post[vios_uuid] = exception``.
"""
import copy
from unittest import mock

from pypowervm import adapter as pvm_adpt
from pypowervm import exceptions as pvm_exc
from pypowervm.tests.test_utils import pvmhttp
from pypowervm import traits as pvm_traits
from pypowervm.wrappers import virtual_io_server as pvm_vios

VIOS1 = '7DBBE705-E4C4-4458-8223-3EBE07015CA9'
VIOS2 = '1300C76F-9814-4A4D-B1F0-5B69352A7DEA'
# Physical FC port WWPNs of the recorded feed.
VIOS1_PORTS = ['10000090fa53720a', '10000090fa537209']
VIOS2_PORTS = ['10000090fa5371f2', '10000090fa5371f1']
HOST_UUID = 'c5d782c7-44e4-3086-ad15-b16fb039d63b'


def http_error(status):
    resp = pvm_adpt.Response('POST', '/x', status, 'err', {})
    return pvm_exc.HttpError(resp)


class FakeVioServer(object):
    def __init__(self, feed_file='fake_vios_feed.txt'):
        adpt = mock.MagicMock()
        adpt.traits = pvm_traits.APITraits(
            mock.Mock(mc_type='PVM', schema_version='V1_0'))
        adpt.session.timeout = 60
        adpt.session.dest = 'https://localhost:12443'
        adpt.build_href.side_effect = (
            lambda *a, **k: pvm_adpt.Adapter.build_href(adpt, *a, **k))
        adpt.build_path.side_effect = pvm_adpt.Adapter.build_path
        self.adpt = adpt
        resp = pvmhttp.load_pvm_resp(feed_file, adapter=adpt).get_response()
        self.state = {}
        for entry in resp.feed.entries:
            entry.properties['etag'] = '1'
            self.state[entry.properties['id'].upper()] = entry
        self.reads = []
        self.posts = []
        self.fail_post = {}
        adpt.read.side_effect = self.read
        adpt.update_by_path.side_effect = self.update_by_path

    def read(self, root_type, root_id=None, **kwargs):
        if root_type != pvm_vios.VIOS.schema_type or kwargs.get(
                'suffix_type'):
            raise AssertionError('unexpected read %s %s %s' % (
                root_type, root_id, kwargs))
        self.reads.append(kwargs.get('xag'))
        resp = pvm_adpt.Response('GET', '/vios', 200, 'OK', {})
        resp.adapter = self.adpt
        if root_id is None:
            resp.feed = mock.Mock(entries=[copy.deepcopy(e) for e in
                                           self.state.values()])
        else:
            resp.entry = copy.deepcopy(self.state[root_id.upper()])
            resp.headers['etag'] = resp.entry.etag
        return resp

    def update_by_path(self, wrapper, etag, path, timeout=-1):
        vios_uuid = path.rsplit('/', 1)[-1].split('?')[0].upper()
        exc = self.fail_post.pop(vios_uuid, None)
        if exc is not None:
            raise exc
        entry = copy.deepcopy(wrapper.entry)
        entry.properties['etag'] = str(int(self.state[vios_uuid].etag) + 1)
        self.state[vios_uuid] = entry
        self.posts.append(vios_uuid)
        resp = pvm_adpt.Response('POST', path, 200, 'OK',
                                 {'etag': entry.etag})
        resp.entry = copy.deepcopy(entry)
        resp.adapter = self.adpt
        return resp

    def vios(self, vios_uuid):
        """The current (posted) state of a VIOS, as a wrapper."""
        return pvm_vios.VIOS.wrap(copy.deepcopy(self.state[vios_uuid]))


class FakeInstance(object):
    """The parts of a nova Instance the connectors use."""

    def __init__(self, uuid='5bd1ac1b-6cb6-4f2f-9f52-9b0f3d4b8a01'):
        self.uuid = uuid
        self.name = 'inst-%s' % uuid[:8]
        self.system_metadata = {}
        self.save = mock.Mock()
