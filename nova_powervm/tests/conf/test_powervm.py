"""The [powervm] options: names, defaults, validation, sample generation."""
from nova import test
from oslo_config import cfg
from oslo_config import fixture as config_fixture

from nova_powervm import conf as pvm_conf
from nova_powervm.conf import opts
from nova_powervm.conf import powervm


class TestPowerVMOptions(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        powervm.register_opts(self.conf)
        self.fixture = self.useFixture(config_fixture.Config(self.conf))

    def test_compat_defaults(self):
        opts = self.conf.powervm
        self.assertEqual(0.1, opts.proc_units_factor)
        self.assertEqual('localdisk', opts.disk_driver)
        self.assertEqual('', opts.volume_group_name)
        self.assertEqual('', opts.cluster_name)
        self.assertEqual(64, opts.uncapped_proc_weight)
        self.assertEqual('rootvg', opts.vopt_media_volume_group)
        self.assertEqual(1, opts.vopt_media_rep_size)
        self.assertEqual('/tmp/cfgdrv/', opts.image_meta_local_path)
        self.assertEqual('NovaLinkVEABridge', opts.pvm_vswitch_for_novalink_io)
        self.assertTrue(opts.use_rmc_mgmt_vif)
        self.assertTrue(opts.use_rmc_ipv6_scheme)
        self.assertEqual(300, opts.vios_active_wait_timeout)
        # About 10 minutes at pypowervm's 2 s between tries, as the earlier
        # out-of-tree driver retried for a NovaLink still starting.
        self.assertEqual(300, opts.conn_tries)
        self.assertEqual('vscsi', opts.fc_attach_strategy)
        self.assertEqual(1, opts.vscsi_vios_connections_required)
        self.assertFalse(opts.volume_use_multipath)
        self.assertEqual(1, opts.ports_per_fabric)
        self.assertEqual('A', opts.fabrics)
        self.assertEqual('', opts.fabric_A_port_wwpns)
        self.assertEqual('localhost', opts.host)
        self.assertIsNone(opts.password)

    def test_compat_defaults_volumes_and_nvram(self):
        opts = self.conf.powervm
        self.assertEqual('default', opts.iscsi_iface)
        self.assertEqual('', opts.rbd_user)
        self.assertEqual('powervm_nvram', opts.swift_container)
        for name in ('swift_username', 'swift_user_domain_name',
                     'swift_project_name', 'swift_project_domain_name'):
            self.assertEqual('powervm', opts[name], name)
        self.assertEqual('3', opts.swift_auth_version)
        self.assertEqual('publicURL', opts.swift_endpoint_type)
        self.assertIsNone(opts.swift_auth_url)
        self.assertIsNone(opts.swift_password)
        # Deliberately not the earlier drivers' 'none' (documented in
        # configuration.rst): the local store needs no service.
        self.assertEqual('local', opts.nvram_store)

    def test_password_is_secret(self):
        for name in ('password', 'swift_password'):
            self.assertTrue(self.conf._get_opt_info(name, 'powervm')[
                'opt'].secret, name)

    def test_invalid_disk_driver_rejected(self):
        self.assertRaises(ValueError, self.fixture.config,
                          group='powervm', disk_driver='foo')

    def test_disk_driver_case_insensitive(self):
        self.fixture.config(group='powervm', disk_driver='SSP')
        self.assertEqual('SSP', self.conf.powervm.disk_driver)

    def test_invalid_values_rejected(self):
        for name, value in (('fc_attach_strategy', 'iscsi'),
                            ('proc_units_factor', 0.01),
                            ('proc_units_factor', 1.5),
                            ('uncapped_proc_weight', 256),
                            ('protocol', 'ftp'),
                            ('vscsi_vios_connections_required', 0),
                            ('port', 70000)):
            self.assertRaises(ValueError, self.fixture.config,
                              group='powervm', **{name: value})

    def test_bad_value_in_config_file(self):
        path = self.create_tempfiles(
            [('nova', '[powervm]\ndisk_driver = foo\n')])[0]
        conf = cfg.ConfigOpts()
        powervm.register_opts(conf)
        conf(['--config-file', path])
        exc = self.assertRaises(cfg.ConfigFileValueError,
                                getattr, conf.powervm, 'disk_driver')
        self.assertIn('disk_driver', str(exc))

    def test_fabric_opts_registered_per_fabric(self):
        self.fixture.config(group='powervm', fabrics='A, B')
        powervm.register_fabric_opts(self.conf)
        self.assertEqual(['A', 'B'], powervm.fabric_names(self.conf))
        self.assertEqual('', self.conf.powervm.fabric_B_port_wwpns)

    def test_list_opts_for_generator(self):
        listed = opts.list_opts()
        self.assertEqual(1, len(listed))
        group, options = listed[0]
        self.assertEqual('powervm', group.name)
        names = {o.name for o in options}
        expected = {'host', 'port', 'protocol', 'username', 'password',
                    'certpath', 'conn_tries', 'disk_driver',
                    'fabric_A_port_wwpns'}
        self.assertEqual(set(), expected - names)
        for o in options:
            self.assertTrue(o.help, o.name)

    def test_global_conf_has_group(self):
        self.assertEqual('localdisk', pvm_conf.CONF.powervm.disk_driver)
