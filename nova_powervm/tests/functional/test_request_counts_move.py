"""REST request counts of cold migration and evacuation (regression check).

Two simulated hosts on one SSP cluster (``moves.measure``, what
``benchmarks.move`` reports): exact counts per step; no timing asserted.
"""
from nova import objects
from nova import test

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import moves


class TestMoveRequestCounts(test.NoDBTestCase):

    def test_migrate_confirm_evacuate(self):
        base.use_slot_map_dir(self)
        glance = self.useFixture(pvm_fixtures.StreamingGlanceFixture(self))
        meta = objects.ImageMeta.from_dict(glance.add_image(
            base.IMAGE_SIZE, name='move-image'))
        counts = {k: n for k, (n, _s) in moves.measure(self, meta).items()}
        self.assertEqual({'spawn': 20, 'migrate_disk_and_power_off': 5,
                          'finish_migration': 8, 'confirm_migration': 5,
                          'evacuate (spawn on the shared LU)': 8}, counts)
