"""A mocked pypowervm Adapter with NovaLink traits, for building wrappers.

pypowervm's own ``tests.test_fixtures.AdapterFx`` needs the ``mock`` package;
this does the same with ``unittest.mock``.
"""
from unittest import mock

from pypowervm import traits as pvm_traits

# Traits hold a weak reference to the session: keep it alive here.
_SESSION = mock.Mock(use_file_auth=True, mc_type='PVM')


def adapter():
    """A Mock adapter whose traits are those of a local NovaLink."""
    traits = pvm_traits.APITraits(_SESSION)
    adpt = mock.Mock()
    adpt.traits = traits
    adpt.session.traits = traits
    return adpt


def _href(schema_type, root_id=None, child_type=None, child_id=None,
          xag=None, **kwargs):
    path = '/rest/api/uom/%s/%s' % (schema_type, root_id)
    if child_type:
        path += '/%s/%s' % (child_type, child_id)
    return 'https://localhost:12443' + path


def adapter_with_hrefs():
    """:func:`adapter` that also builds REST hrefs (for mappings)."""
    adpt = adapter()
    adpt.build_href.side_effect = _href
    return adpt
