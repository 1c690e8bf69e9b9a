"""REST request counts of a live migration (regression check).

Two simulated hosts on one SSP cluster (``lpm.measure``, what
``benchmarks.lpm`` reports): exact counts per nova step, both hosts'
requests; no timing asserted.

``live_migration`` closes the partition's virtual terminal before the jobs
(PowerVM moves no partition with an open one; the API cannot be asked
whether one is open): with a password logon that is pypowervm's CloseVterm
job (its template read once per adapter, the job, its deletion), with
NovaLink's local logon one read of the partition's id (then ``rmvterm``).
"""
from nova.network import model as network_model
from nova import objects
from nova import test

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import lpm
from nova_powervm.tests.functional import test_lifecycle as lc


class TestLiveMigrationRequestCounts(test.NoDBTestCase):

    def _counts(self, local=False, vifs=lpm.NO_VIFS):
        base.use_slot_map_dir(self)
        glance = self.useFixture(pvm_fixtures.StreamingGlanceFixture(self))
        meta = objects.ImageMeta.from_dict(glance.add_image(
            base.IMAGE_SIZE, name='lpm-image'))
        return {k: n for k, (n, _s) in
                lpm.measure(self, meta, local=local, vifs=vifs).items()}

    @staticmethod
    def _expected(live_migration):
        return {'check_can_live_migrate_destination': 1,
                'check_can_live_migrate_source': 2,
                'pre_live_migration': 4, 'live_migration': live_migration,
                'post_live_migration': 0,
                'post_live_migration_at_source': 0,
                'post_live_migration_at_destination': 0}

    def test_live_migrate_ssp(self):
        # The partition; CloseVterm, MigrateValidate, Migrate: each its
        # template, the job, the job's deletion.
        self.assertEqual(self._expected(10), self._counts())

    def test_live_migrate_ssp_local_logon(self):
        # The partition; its id (for rmvterm); MigrateValidate, Migrate.
        self.assertEqual(self._expected(8), self._counts(local=True))

    def test_live_migrate_ssp_sea_port(self):
        """A pvm_sea port whose VLAN only the source bridges."""
        counts = self._counts(vifs=network_model.NetworkInfo(
            [lc.sea_vif(1, 300)]))
        # Source: VirtualNetwork feed, bridges, bridge update (VLAN 300
        # unused there now).  Target (bridges known since init_host):
        # pypowervm's bridger alone, i.e. bridges, VIOS feed (orphan
        # VLANs), vswitches, bridge update.
        self.assertEqual(dict(self._expected(10),
                              post_live_migration_at_source=3,
                              post_live_migration_at_destination=4), counts)
