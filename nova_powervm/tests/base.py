"""A testtools base class that captures logging as nova's test base does."""
import logging
import os

import fixtures
import testtools

_FORMAT = '%(asctime)s %(levelname)s [%(name)s] %(message)s'


class TestCase(testtools.TestCase):
    """testtools.TestCase with the log records of each test captured.

    Importing nova's test module leaves a stdout handler on the root logger
    (and nova's TestCase leaves the root at DEBUG), so a test that does not
    derive from nova's base printed every record into the runner's output.
    Records are kept (INFO and up; DEBUG with ``OS_DEBUG=1``) and attached
    to a failing test's details.
    """

    def setUp(self):
        super().setUp()
        debug = os.environ.get('OS_DEBUG', '').lower() in ('1', 'true',
                                                            'yes')
        self.useFixture(fixtures.FakeLogger(
            format=_FORMAT, level=logging.DEBUG if debug else logging.INFO))
