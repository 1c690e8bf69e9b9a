"""devstack/plugin.sh and settings: the configuration they generate.

devstack itself cannot run here: its functions are stubbed (iniset records
what would be written) and the plugin's phases are run as devstack runs
them.
"""
import os
import subprocess
import tempfile

from nova_powervm.tests import base as test_base


ROOT = os.path.join(os.path.dirname(__file__), '..', '..')

STUBS = r'''
set -e
DEST=/opt/stack; DATA_DIR=/opt/stack/data; NOVA_CONF=/etc/nova/nova.conf
NEUTRON_CONF=/etc/neutron/neutron.conf
Q_PLUGIN_CONF_FILE=etc/neutron/plugins/ml2/ml2_conf.ini
function trueorfalse {
    local v=${!2:-$1}; [[ "$v" == [Tt]rue ]] && echo True || echo False; }
function iniset { echo "$1 [$2] $3 = $4" >> "$OUT"; }
function iniget { echo "${ML2_DRIVERS_NOW:-}"; }
function is_service_enabled { return 0; }
function enable_service { echo "enable_service $*" >> "$OUT"; }
function echo_summary { :; }
function setup_develop { echo "setup_develop $1" >> "$OUT"; }
function run_process { echo "run_process $1 $2" >> "$OUT"; }
function stop_process { echo "stop_process $1" >> "$OUT"; }
function curl { return 0; }
function die { echo "die $*" >> "$OUT"; exit 1; }
function hostname { echo pvm1; }
'''


class TestDevstackPlugin(test_base.TestCase):

    def run_phases(self, env, *phases):
        out = tempfile.NamedTemporaryFile(delete=False)
        out.close()
        self.addCleanup(os.unlink, out.name)
        script = STUBS + 'source %s/devstack/settings\n' % ROOT
        for phase in phases:
            script += 'source %s/devstack/plugin.sh %s\n' % (ROOT, phase)
        subprocess.run(['bash', '-c', script], check=True,
                       env=dict(env, OUT=out.name, PATH=os.environ['PATH']))
        with open(out.name) as f:
            return f.read().splitlines()

    def test_simulator_config(self):
        lines = self.run_phases({'POWERVM_SIMULATOR': 'True'},
                                'stack install', 'stack post-config')
        conf = '/etc/nova/nova.conf'
        ml2 = '/etc/neutron/plugins/ml2/ml2_conf.ini'
        self.assertEqual('enable_service pvm-sea-agt', lines[0])
        self.assertEqual('setup_develop /opt/stack/nova-powervm', lines[1])
        for want in (
                conf + ' [DEFAULT] compute_driver = powervm.PowerVMDriver',
                conf + ' [powervm] host = 127.0.0.1',
                conf + ' [powervm] port = 12080',
                conf + ' [powervm] protocol = http',
                conf + ' [powervm] username = neo',
                conf + ' [powervm] disk_driver = localdisk',
                conf + ' [compute] live_migration_wait_for_vif_plug = False',
                conf + ' [powervm] volume_group_name = datavg',
                ml2 + ' [ml2] mechanism_drivers = pvm_sea',
                ml2 + ' [ml2_pvm_sea] hosts = pvm1',
                ml2 + ' [securitygroup] firewall_driver = noop'):
            self.assertIn(want, lines)
        (run,) = [x for x in lines if x.startswith('run_process')]
        self.assertIn('--host 127.0.0.1 --port 12080 --hosts 1', run)

    def test_novalink_local_auth_and_existing_mech_drivers(self):
        lines = self.run_phases({'ML2_DRIVERS_NOW': 'openvswitch'},
                                'stack post-config', 'unstack')
        conf = '/etc/nova/nova.conf'
        self.assertIn(conf + ' [powervm] host = localhost', lines)
        self.assertIn(conf + ' [powervm] protocol = https', lines)
        # Local authentication: no credentials written; no simulator.
        self.assertFalse([x for x in lines if 'username' in x or
                          'password' in x or 'simulator' in x], lines)
        self.assertIn('stop_process pvm-sea-agt', lines)
        self.assertIn('/etc/neutron/plugins/ml2/ml2_conf.ini [ml2] '
                      'mechanism_drivers = openvswitch,pvm_sea', lines)

    def test_sea_agent_started_after_the_services(self):
        # "stack extra": nova and neutron run; the agent reads [powervm]
        # from nova.conf and the message bus from neutron.conf.
        lines = self.run_phases({}, 'stack post-config', 'stack extra')
        (run,) = [x for x in lines if x.startswith('run_process')]
        words = run.split()
        self.assertEqual(['run_process', 'pvm-sea-agt'], words[:2])
        self.assertEqual(['--config-file', '/etc/nova/nova.conf',
                          '--config-file', '/etc/neutron/neutron.conf'],
                         words[-4:])
