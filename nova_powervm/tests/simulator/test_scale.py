"""Seeded partitions (``partitions=N``) and feed quick properties."""
import json

from pypowervm import const as pvm_const
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import logical_partition as pvm_lpar
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.simulator import cli
from nova_powervm.simulator import seed_scale
from nova_powervm.tests.simulator import base

N = 25


class TestSeededPartitions(base.SimTestCase):

    sim_kwargs = dict(base.SimTestCase.sim_kwargs, partitions=N)

    def test_partitions_as_spawned(self):
        inv = self.sim.inventory()
        seeded = {u: p for u, p in inv['partitions'].items()
                  if p['name'].startswith('scale')}
        self.assertEqual(N, len(seeded))
        self.assertEqual(
            {seed_scale.partition_uuid(n) for n in range(1, N + 1)},
            set(seeded))
        self.assertEqual(N - N // 5, len([p for p in seeded.values()
                                          if p['state'] == 'running']))
        ids = [p['id'] for p in inv['partitions'].values()]
        self.assertEqual(len(ids), len(set(ids)))
        # One network adapter each (slot 3), one vSCSI disk (slot 4).
        cnas = [a for a in inv['client_adapters'].values()
                if a['partition'] in seeded]
        self.assertEqual(N, len(cnas))
        self.assertEqual({'3'}, {a['slot'] for a in cnas})
        self.assertEqual(N, len({a['mac'] for a in cnas}))
        maps = [m for m in inv['scsi_mappings'] if m['client'] in seeded]
        self.assertEqual(N, len(maps))
        self.assertEqual({('vios1', 'VirtualDisk', '4')}, {
            (m['vios'], m['storage_type'], m['client_slot'])
            for m in maps})
        self.assertEqual(N, len({m['target'] for m in maps}))
        self.assertEqual(N, len({m['server_slot'] for m in maps}))

    def test_pypowervm_reads_them(self):
        lpars = [lp for lp in pvm_lpar.LPAR.get(self.adpt)
                 if lp.name.startswith('scale')]
        self.assertEqual(N, len(lpars))
        vios = [v for v in pvm_vios.VIOS.get(
            self.adpt, xag=[pvm_const.XAG.VIO_SMAP]) if v.name == 'vios1'][0]
        by_client = {m.client_lpar_href.rsplit('/', 1)[1]: m
                     for m in vios.scsi_mappings}
        m = by_client[seed_scale.partition_uuid(7)]
        self.assertEqual(seed_scale.DISK % 7, m.backing_storage.name)
        self.assertIsInstance(m.backing_storage, pvm_stg.VDisk)
        vg = [g for g in pvm_stg.VG.get(self.adpt, parent=vios)
              if g.name == 'datavg'][0]
        self.assertEqual(N, len([d for d in vg.virtual_disks
                                 if d.name.startswith('scale_d')]))

    def test_quick_all(self):
        resp = self.adpt.read('LogicalPartition', suffix_type='quick',
                              suffix_parm='All')
        parts = {p['UUID']: p for p in json.loads(resp.body)}
        # Every partition (the management one too), one read.
        self.assertEqual(N + 1, len(parts))
        p = parts[seed_scale.partition_uuid(5)]
        self.assertEqual(('scale0005', 'not activated', False),
                         (p['PartitionName'], p['PartitionState'],
                          p['IsManagementPartition']))
        self.sim.set_partition_state(seed_scale.partition_uuid(5),
                                     'running')
        resp = self.adpt.read('LogicalPartition', suffix_type='quick',
                              suffix_parm='All')
        self.assertEqual('running', {p['UUID']: p for p in json.loads(
            resp.body)}[seed_scale.partition_uuid(5)]['PartitionState'])
        # A feed has quick/All only.
        self.assertRaises(pvm_exc.HttpError, self.adpt.read,
                          'LogicalPartition', suffix_type='quick',
                          suffix_parm='PartitionState')

    def test_reset_reseeds_and_delete_cascades(self):
        before = self.sim.inventory()
        uuid = seed_scale.partition_uuid(5)   # not activated
        self.adpt.delete('LogicalPartition', root_id=uuid)
        inv = self.sim.inventory()
        self.assertNotIn(uuid, inv['partitions'])
        self.assertNotIn(uuid, [m['client'] for m in inv['scsi_mappings']])
        self.sim.reset()
        self.assertEqual(before, self.sim.inventory())

    def test_cli_option(self):
        self.assertEqual(500, cli.parse_args(['--partitions', '500'])
                         .partitions)
        self.assertEqual(0, cli.parse_args([]).partitions)
