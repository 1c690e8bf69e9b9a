"""Write tempest.conf for the aio deployment (tools/aio.sh tempest).

    python tools/aio_tempest_conf.py AIO_DIR HOSTS OUT
    python tools/aio_tempest_conf.py --flags [HOSTS [DISK_DRIVER]]
    python tools/aio_tempest_conf.py --exclude-regex [HOSTS]

``[compute-feature-enabled]`` follows what the driver claims, not a hand
list: a flag is on when PowerVMDriver overrides the nova ComputeDriver
methods the feature needs, declares the nova capability, or (config drive)
says "Yes" in doc/source/support-matrix.rst; moving an instance to another
host also needs a disk driver with shared storage (localdisk disks are
refused across hosts).  Everything else comes from
the deployment (its users, flavors, image, networks, number of computes).
Run with the deployment's venv python (it has nova, this project and the
openstack client).
"""
import os
import re
import sys

from nova.virt import driver as nova_driver

from oslo_utils import importutils

from nova_powervm.virt.powervm.disk import driver as pvm_disk
from nova_powervm.virt.powervm import driver as pvm_driver

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aio_conf  # noqa: E402
import aio_resources  # noqa: E402

IP = aio_conf.IP
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What tools/aio.sh deploys for a feature besides the driver: nova-novncproxy
# (its computes open consoles with NovaLink's local logon).  No cinder,
# metadata proxy or guest OS.
DEPLOYED = frozenset(['vnc'])

# tempest flag -> what the driver must have for it (all of them)
FEATURES = {
    'change_password': [('method', 'set_admin_password')],
    'console_output': [('method', 'get_console_output')],
    # With two hosts nova may resize onto the other one.
    'resize': [('method', 'migrate_disk_and_power_off'),
               ('method', 'finish_migration'), ('one_host_or_shared', None)],
    'cold_migration': [('method', 'migrate_disk_and_power_off'),
                       ('hosts', 2), ('shared_disk', None)],
    # Live Partition Mobility: SSP boot disks or boot volumes only.
    'live_migration': [('method', 'live_migration'), ('hosts', 2),
                       ('shared_disk', None)],
    'shelve_migrate': [('method', 'snapshot'), ('hosts', 2)],
    'pause': [('method', 'pause')],
    'suspend': [('method', 'suspend')],
    'shelve': [('method', 'snapshot'), ('method', 'power_off')],
    'snapshot': [('method', 'snapshot')],
    'rescue': [('method', 'rescue'), ('method', 'unrescue')],
    'stable_rescue': [('cap', 'supports_bfv_rescue')],
    'interface_attach': [('cap', 'supports_attach_interface'),
                         ('method', 'attach_interface')],
    'vnc_console': [('method', 'get_vnc_console'), ('deployed', 'vnc')],
    'spice_console': [('method', 'get_spice_console')],
    'serial_console': [('method', 'get_serial_console')],
    'config_drive': [('matrix', 'Config drive')],
    'swap_volume': [('method', 'swap_volume'), ('deployed', 'cinder')],
    'volume_multiattach': [('cap', 'supports_multiattach'),
                           ('deployed', 'cinder')],
    'attach_encrypted_volume': [('deployed', 'cinder')],
    # Tempest runs its only live migration of a server with disks under
    # this flag; at microversion 2.25+ it asks for block_migration 'auto'
    # (nova lets the driver choose: PowerVM moves the partition, the SSP
    # disk stays shared).  The tests forcing block_migration=True are
    # excluded (FORCED_BLOCK): PowerVM never copies disks.
    'block_migration_for_live_migration': [
        ('method', 'live_migration'), ('hosts', 2), ('shared_disk', None)],
    'volume_backed_live_migration': [('method', 'live_migration'),
                                     ('deployed', 'cinder')],
    # Not a driver feature here: no metadata proxy, no guest to inject into.
    'metadata_service': [('deployed', 'metadata')],
    'personality': [('deployed', 'personality')],
    'disk_config': [('deployed', 'disk_config')],
    'ide_bus': [('deployed', 'ide')],
}


# Tempest tests with no feature flag, run only when the driver implements
# what they call: driver method -> regex of those tests.
UNFLAGGED = {
    'get_diagnostics': r'test_server_diagnostics',
    'get_instance_diagnostics': r'test_server_diagnostics_v248',
    # It suspends the server whatever [compute-feature-enabled] suspend says
    # (then waits 300 s for SUSPENDED).
    'suspend': r'test_live_block_migration_suspended',
}


# Below microversion 2.25 these send block_migration=True whenever
# block_migration_for_live_migration is on; the driver refuses a block
# migration (MigrationPreCheckError), as the support matrix says.
FORCED_BLOCK = (r'admin\.test_live_migration\.(LiveMigrationTest|'
                r'LiveMigrationWithoutHostTest)\.test_live_block_migration\[')


def exclude_regex(hosts=1):
    """Tests of features the driver does not implement (no flag in tempest)."""
    rxs = {rx for meth, rx in UNFLAGGED.items() if not overrides(meth)}
    if feature_flags(hosts)['block_migration_for_live_migration'] == 'true':
        rxs.add(FORCED_BLOCK)
    return '|'.join(sorted(rxs))


def overrides(name):
    mine = getattr(pvm_driver.PowerVMDriver, name, None)
    return mine is not None and mine is not getattr(
        nova_driver.ComputeDriver, name, None)


def matrix_yes():
    """Feature names with Status "Yes" in the support matrix."""
    with open(os.path.join(HERE, 'doc', 'source', 'support-matrix.rst')) as f:
        text = f.read()
    rows = re.findall(r'^   \* - (.+?)\n     - (\w+)', text, re.M)
    return {feat.strip() for feat, status in rows if status == 'Yes'}


def feature_flags(hosts, disk_driver=None):
    caps = pvm_driver.PowerVMDriver.capabilities
    disk_driver = disk_driver or aio_conf.disk_driver(hosts)
    shared = bool(importutils.import_class(
        pvm_disk.DISK_DRIVERS[disk_driver.lower()]).capabilities.get(
            'shared_storage'))
    yes = matrix_yes()
    flags = {}
    for flag, needs in FEATURES.items():
        ok = True
        for kind, what in needs:
            if kind == 'method':
                ok = ok and overrides(what)
            elif kind == 'cap':
                ok = ok and bool(caps.get(what))
            elif kind == 'hosts':
                ok = ok and hosts >= what
            elif kind == 'shared_disk':
                ok = ok and shared
            elif kind == 'one_host_or_shared':
                ok = ok and (hosts < 2 or shared)
            elif kind == 'matrix':
                ok = ok and any(f.startswith(what) for f in yes)
            elif kind == 'deployed':
                ok = ok and what in DEPLOYED
        flags[flag] = 'true' if ok else 'false'
    return flags


def nova_filters():
    """The deployment's [filter_scheduler] enabled_filters."""
    return aio_conf.scheduler_filters(aio_conf.nova_sched_filters())


def neutron_extensions(conn):
    """The aliases of the extensions neutron really serves.

    Not 'all': tempest would run trunk tests against a neutron without it.
    """
    return sorted(e.alias for e in conn.network.extensions())


def main(aio_dir, hosts, out):
    hosts = int(hosts)
    flags = feature_flags(hosts)
    admin_pw = aio_resources.secret(aio_dir, 'admin')
    conn = aio_resources.connect(aio_dir)
    flavors = {f.name: f.id for f in conn.compute.flavors()}
    image = conn.image.find_image('aio-raw').id
    alt = conn.image.find_image('aio-raw-alt')
    if alt is None:
        sys.exit('aio-raw-alt image missing (made by an older aio.sh): '
                 'run tools/aio.sh up again')
    image_alt = alt.id
    public = conn.network.find_network('public').id
    aio_conf.write(out, {
        'DEFAULT': {'log_dir': os.path.join(aio_dir, 'logs'),
                    'log_file': 'tempest.log'},
        'auth': {'use_dynamic_credentials': 'true',
                 'create_isolated_networks': 'false',
                 'admin_username': 'admin', 'admin_password': admin_pw,
                 'admin_project_name': 'admin',
                 'admin_domain_name': 'Default'},
        'identity': {'uri_v3': 'http://%s:5000/v3' % IP,
                     'auth_version': 'v3', 'region': 'RegionOne'},
        'identity-feature-enabled': {'api_v2': 'false'},
        'compute': {'image_ref': image, 'image_ref_alt': image_alt,
                    'flavor_ref': flavors['m1.pvm'],
                    'flavor_ref_alt': flavors['m1.pvm2'],
                    'fixed_network_name': 'private',
                    'min_compute_nodes': str(hosts),
                    'max_microversion': 'latest',
                    'build_timeout': '300', 'region': 'RegionOne'},
        'compute-feature-enabled': dict(
            flags,
            scheduler_enabled_filters=','.join(nova_filters())),
        'network': {'public_network_id': public,
                    'floating_network_name': 'public',
                    'project_network_cidr': '10.100.0.0/16',
                    'region': 'RegionOne'},
        'network-feature-enabled': {
            'port_security': 'true',
            'api_extensions': ','.join(neutron_extensions(conn))},
        'validation': {'run_validation': 'false'},
        'image': {'region': 'RegionOne'},
        'placement': {'region': 'RegionOne'},
        'service_available': {'nova': 'true', 'glance': 'true',
                              'neutron': 'true', 'cinder': 'false',
                              'swift': 'false', 'horizon': 'false',
                              'placement': 'true'},
    })
    print('[compute-feature-enabled] from the driver: ' + ', '.join(
        '%s=%s' % kv for kv in sorted(flags.items())))


if __name__ == '__main__':
    if sys.argv[1] == '--exclude-regex':
        print(exclude_regex(int(sys.argv[2]) if len(sys.argv) > 2 else 1))
    elif sys.argv[1] == '--flags':       # for any cloud
        hosts = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        disk = sys.argv[3] if len(sys.argv) > 3 else None
        print('[compute-feature-enabled]')
        for k, v in sorted(feature_flags(hosts, disk).items()):
            print('%s = %s' % (k, v))
    else:
        main(*sys.argv[1:4])
