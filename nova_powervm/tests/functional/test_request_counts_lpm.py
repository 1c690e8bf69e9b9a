"""REST request counts of a live migration (regression check).

Two simulated hosts on one SSP cluster (``lpm.measure``, what
``benchmarks.lpm`` reports): exact counts per nova step, both hosts'
requests; no timing asserted.
"""
from nova import objects
from nova import test

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import lpm


class TestLiveMigrationRequestCounts(test.NoDBTestCase):

    def test_live_migrate_ssp(self):
        base.use_slot_map_dir(self)
        glance = self.useFixture(pvm_fixtures.StreamingGlanceFixture(self))
        meta = objects.ImageMeta.from_dict(glance.add_image(
            base.IMAGE_SIZE, name='lpm-image'))
        counts = {k: n for k, (n, _s) in lpm.measure(self, meta).items()}
        self.assertEqual({'check_can_live_migrate_destination': 1,
                          'check_can_live_migrate_source': 2,
                          'pre_live_migration': 4, 'live_migration': 7,
                          'post_live_migration': 0,
                          'post_live_migration_at_source': 0,
                          'post_live_migration_at_destination': 0}, counts)
