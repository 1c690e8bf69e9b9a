"""A live migration of a partition whose VNC console was opened.

Two simulated hosts on one SSP cluster; the source's driver logs on as on
the NovaLink partition, so ``get_vnc_console`` opens the partition's
virtual terminal (``mkvterm --vnc``, the simulator's, first on PATH) as
in a deployment with nova-novncproxy.  PowerVM moves no partition with
an open virtual terminal: the simulator's MigrateValidate and Migrate
refuse it, as real NovaLink does.  A cold migration needs nothing more:
the source partition stays (powered off) until the confirmation deletes
it, and ``vm.delete_lpar`` closes a terminal the DELETE is refused for.
"""
import types

from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import objects
from nova import test

from nova_powervm.simulator import rfb_client
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import fixtures as pvm_fixtures
from nova_powervm.tests.functional import lpm
from nova_powervm.tests.functional import test_iface_console as tic
from nova_powervm.tests.functional import test_lifecycle as lc
from nova_powervm.virt.powervm import driver_move
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import live_migration


class TestLiveMigrationWithConsole(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        base.use_slot_map_dir(self)
        glance = self.useFixture(pvm_fixtures.StreamingGlanceFixture(self))
        meta = objects.ImageMeta.from_dict(glance.add_image(
            base.IMAGE_SIZE, name='lpm-console-image'))
        self.flags(server_proxyclient_address=tic.VNC_HOST, group='vnc')
        self.fx, self.drvs = lpm.two_hosts(self, local=(0,))
        self.assertTrue(self.drvs[0].adapter.traits.local_api)
        self.src, self.dst = self.fx.sims
        # After the simulator: its cleanup stops pypowervm's VNC threads
        # before the simulator stops.
        self.useFixture(pvm_fixtures.VncConsoleFixture(self.src))
        self.inst = lc.make_instance(1, image_ref=meta.id)
        self.inst.save = lambda: None
        self.uuid = ids.pvm_uuid(self.inst)
        lpm.spawn(self.drvs[0], self.src, self.inst, meta)
        self.mig = lpm.LiveMigration(self.drvs, self.inst)
        # nova's roll-back RPC to the target and its fault record.
        self.rpc = self.useFixture(fixtures.MockPatchObject(
            live_migration.compute_rpcapi, 'ComputeAPI')).mock.return_value
        self.faults = self.useFixture(fixtures.MockPatchObject(
            live_migration.compute_utils,
            'add_instance_fault_from_exc')).mock

    def open_console(self):
        """nova's get_vnc_console, then a client that connects and
        leaves (pypowervm keeps the terminal open).
        """
        cons = self.drvs[0].get_vnc_console(None, self.inst)
        sock, _answer, greeting = rfb_client.rfb_connect(
            cons.host, cons.port, cons.internal_access_path)
        sock.close()
        self.assertEqual(b'RFB 003.008\n', greeting)
        self.assertTrue(self.src.vterm_open(self.uuid))
        return cons

    def partition(self, sim):
        return sim.inventory()['partitions'].get(self.uuid)

    def test_open_console_closed_then_migrated(self):
        cons = self.open_console()
        self.mig.run()
        self.assertEqual('post', self.mig.outcome)
        self.assertIsNone(self.partition(self.src))
        self.assertEqual('running', self.partition(self.dst)['state'])
        self.assertFalse(self.dst.vterm_open(self.uuid))
        self.assertIsNone(self.src.vnc_console(self.uuid))
        self.faults.assert_not_called()
        # nova's proxy connecting with the old console's token is refused;
        # the listener every console shares keeps running.
        sock, answer, _greeting = rfb_client.rfb_connect(
            cons.host, cons.port, cons.internal_access_path)
        sock.close()
        self.assertTrue(answer.startswith(b'HTTP/1.1 400'), answer)

    def test_open_terminal_refused_when_not_closed(self):
        # Without the driver's closing, PowerVM's validation refuses and
        # the partition stays running on the source, its console open.
        self.open_console()
        before = self.partition(self.src)
        with mock.patch.object(live_migration.console, 'close'):
            self.mig.run(*lpm.STEPS[:4])
        self.assertEqual('recover: error', self.mig.outcome)
        err = self.faults.call_args[0][2]
        self.assertIsInstance(err, nova_exc.MigrationPreCheckError)
        self.assertIn('open virtual terminal', str(err))
        self.rpc.rollback_live_migration_at_destination.assert_called_once()
        self.mig.rollback_live_migration_at_destination()
        self.assertEqual(before, self.partition(self.src))
        self.assertTrue(self.src.vterm_open(self.uuid))
        self.assertIsNone(self.partition(self.dst))

    def test_cold_migration_confirmed_with_open_console(self):
        self.open_console()
        mig = types.SimpleNamespace(source_compute='compute1',
                                    dest_compute='compute2')
        self.inst.old_flavor = self.inst.new_flavor = self.inst.flavor
        meta = objects.ImageMeta.from_dict({'id': self.inst.image_ref})
        self.useFixture(fixtures.MockPatchObject(
            driver_move, '_migration', return_value=mig))
        driver_move.compute_rpcapi.ComputeAPI.return_value.\
            check_instance_shared_storage.return_value = []
        self.drvs[0].migrate_disk_and_power_off(
            None, self.inst, 'compute2', self.inst.flavor, lpm.NO_VIFS)
        self.drvs[1].finish_migration(None, mig, self.inst, '{}',
                                      lpm.NO_VIFS, meta, False, {})
        # Still open on the stopped source partition (power does not close
        # it): the confirmation's DELETE is refused until it is closed.
        self.assertTrue(self.src.vterm_open(self.uuid))
        self.drvs[0].confirm_migration(None, mig, self.inst, lpm.NO_VIFS)
        self.assertIsNone(self.partition(self.src))
        self.assertIsNone(self.src.vnc_console(self.uuid))
        self.assertEqual('running', self.partition(self.dst)['state'])
