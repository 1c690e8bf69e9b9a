"""Write one service's configuration for tools/aio.sh.

    python tools/aio_conf.py SERVICE ETC_DIR STATE_DIR

SERVICE: keystone, placement, glance, neutron, nova, sea_agent.  Passwords
come from ETC_DIR/secrets (written by aio.sh); everything listens on
loopback: 127.0.0.1, each nova-compute's consoles on console_ip(n).
Run with the deployment's venv python (paste files are copied from it).
"""
import base64
import configparser
import os
import shutil
import sys

IP = '127.0.0.1'
SIM_PORT = 12080
NOVNC_PORT = 6080


def console_ip(n):
    """Loopback address of nova-compute n's VNC console listener.

    pypowervm serves every console of a nova-compute on one port (5901) of
    ``[vnc] server_proxyclient_address``: each compute needs an address of
    its own (the functional tests pick random ones outside 127.0.0.0/24).
    """
    return '127.0.0.%d' % (10 + n)


def disk_driver(hosts):
    """[powervm] disk_driver of every compute: localdisk on one host; with
    several, the SSP cluster the simulated hosts share (instances can move).
    """
    return 'localdisk' if hosts < 2 else 'ssp'


def secret(etc, name):
    """A password kept in the secrets dir (made on first use, as aio.sh)."""
    path = os.path.join(etc, 'secrets', name)
    if not os.path.exists(path) or not os.path.getsize(path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(base64.b64encode(os.urandom(18)).decode().translate(
                {ord(c): None for c in '/+='}))
    with open(path) as f:
        return f.read().strip()


def db(etc, name):
    return 'mysql+pymysql://aio:%s@%s/%s?charset=utf8' % (
        secret(etc, 'db'), IP, name)


def rabbit(etc):
    return 'rabbit://aio:%s@%s:5672/' % (secret(etc, 'rabbit'), IP)


def auth(etc, user):
    """A keystone password auth section for a service user."""
    return {'auth_type': 'password', 'auth_url': 'http://%s:5000/v3' % IP,
            'www_authenticate_uri': 'http://%s:5000/v3' % IP,
            'username': user, 'password': secret(etc, user),
            'project_name': 'service', 'user_domain_name': 'Default',
            'project_domain_name': 'Default', 'region_name': 'RegionOne'}


def plain_auth(etc, user):
    a = auth(etc, user)
    a.pop('www_authenticate_uri')
    return a


def write(path, sections):
    cp = configparser.RawConfigParser()
    for name, opts in sections.items():
        if name != 'DEFAULT':
            cp.add_section(name)
        for k, v in opts.items():
            cp.set(name, k, str(v))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        cp.write(f)
    os.chmod(path, 0o600)


def copy_paste(src_rel, dst):
    src = os.path.join(sys.prefix, 'etc', src_rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)


def keystone(etc, state):
    d = os.path.join(etc, 'keystone')
    write(os.path.join(d, 'keystone.conf'), {
        'DEFAULT': {'log_file': ''},
        'database': {'connection': db(etc, 'keystone')},
        'token': {'provider': 'fernet'},
        'fernet_tokens': {'key_repository': os.path.join(d, 'fernet-keys')},
        'credential': {'key_repository': os.path.join(d, 'credential-keys')},
    })


def placement(etc, state):
    write(os.path.join(etc, 'placement', 'placement.conf'), {
        'placement_database': {'connection': db(etc, 'placement')},
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': auth(etc, 'placement'),
    })


def glance(etc, state):
    d = os.path.join(etc, 'glance')
    images = os.path.join(state, 'glance')
    for sub in ('images', 'staging', 'tasks'):
        os.makedirs(os.path.join(images, sub), exist_ok=True)
    copy_paste('glance/glance-api-paste.ini',
               os.path.join(d, 'glance-api-paste.ini'))
    write(os.path.join(d, 'glance-api.conf'), {
        'DEFAULT': {'enabled_backends': 'local:file', 'bind_host': IP},
        'database': {'connection': db(etc, 'glance')},
        'keystone_authtoken': auth(etc, 'glance'),
        'paste_deploy': {'flavor': 'keystone'},
        'glance_store': {'default_backend': 'local'},
        'local': {'filesystem_store_datadir':
                  os.path.join(images, 'images')},
        'os_glance_staging_store': {
            'filesystem_store_datadir': os.path.join(images, 'staging')},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': os.path.join(images, 'tasks')},
        'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
    })


def neutron(etc, state):
    d = os.path.join(etc, 'neutron')
    copy_paste('neutron/api-paste.ini', os.path.join(d, 'api-paste.ini'))
    hosts = ','.join('pvm%d' % n for n in range(1, nhosts(etc) + 1))
    write(os.path.join(d, 'neutron.conf'), {
        'DEFAULT': {'core_plugin': 'ml2', 'service_plugins': 'router',
                    'auth_strategy': 'keystone', 'bind_host': IP,
                    'api_paste_config': os.path.join(d, 'api-paste.ini'),
                    'transport_url': rabbit(etc),
                    'notify_nova_on_port_status_changes': 'true',
                    'notify_nova_on_port_data_changes': 'true',
                    'api_workers': '1', 'rpc_workers': '0'},
        'database': {'connection': db(etc, 'neutron')},
        'keystone_authtoken': auth(etc, 'neutron'),
        'nova': plain_auth(etc, 'nova'),
        'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
    })
    write(os.path.join(d, 'ml2_conf.ini'), {
        'ml2': {'type_drivers': 'flat,vlan', 'tenant_network_types': 'vlan',
                'mechanism_drivers': 'pvm_sea',
                'extension_drivers': 'port_security'},
        'ml2_type_flat': {'flat_networks': 'public'},
        'ml2_type_vlan': {'network_vlan_ranges': 'default:100:199'},
        'ml2_pvm_sea': {'hosts': hosts},
        'securitygroup': {'firewall_driver': 'noop'},
    })


def sea_agent(etc, state):
    """neutron's RPC server (the agents' peer) and one agent file per host.

    The API (uwsgi) serves no RPC: neutron-rpc-server does, with one worker.
    Each agent also reads nova.conf (message bus) and computeN.conf
    ([powervm] of its simulated host).
    """
    write(os.path.join(etc, 'neutron', 'rpc_server.conf'), {
        'DEFAULT': {'rpc_workers': '1', 'rpc_state_report_workers': '0'}})
    for n in range(1, nhosts(etc) + 1):
        write(os.path.join(etc, 'nova', 'sea_agent%d.conf' % n), {
            'sea_agent': {'host': 'pvm%d' % n, 'report_interval': '10'}})


def nova_sched_filters():
    """nova's default [filter_scheduler] enabled_filters."""
    from nova.conf import scheduler  # the venv's nova (import is slow)
    for _group, opts in scheduler.list_opts().items():
        for opt in opts:
            if opt.name == 'enabled_filters':
                return opt.default
    raise LookupError('nova has no enabled_filters option')


def scheduler_filters(defaults):
    """nova's default filters plus the host hints (multinode tests)."""
    return list(defaults) + [f for f in ('SameHostFilter',
                                         'DifferentHostFilter')
                             if f not in defaults]


def nhosts(etc):
    try:
        with open(os.path.join(etc, 'hosts')) as f:
            return int(f.read().strip() or 1)
    except OSError:
        return 1


def mgmt_disk_dir(etc, state, n):
    """Where simulated host n's mgmt-mapped disks appear (aio.sh's sim)."""
    top = os.path.join(state, 'mgmt-disks')
    return top if nhosts(etc) == 1 else os.path.join(top, 'host%d' % (n - 1))


def novnc_dir(state):
    """Where aio.sh unpacks noVNC's pages (nova-novncproxy's ``web``)."""
    return os.path.join(state, 'novnc', 'usr', 'share', 'novnc')


def nova(etc, state):
    d = os.path.join(etc, 'nova')
    copy_paste('nova/api-paste.ini', os.path.join(d, 'api-paste.ini'))
    write(os.path.join(d, 'nova.conf'), {
        'DEFAULT': {'transport_url': rabbit(etc), 'my_ip': IP,
                    'compute_driver': 'powervm.PowerVMDriver',
                    'state_path': os.path.join(state, 'nova'),
                    'allow_resize_to_same_host': 'true',
                    'osapi_compute_workers': '1',
                    'web': novnc_dir(state)},
        'api': {'auth_strategy': 'keystone'},
        'wsgi': {'api_paste_config': os.path.join(d, 'api-paste.ini')},
        'api_database': {'connection': db(etc, 'nova_api')},
        'database': {'connection': db(etc, 'nova')},
        'keystone_authtoken': auth(etc, 'nova'),
        'service_user': dict(plain_auth(etc, 'nova'),
                             send_service_user_token='true'),
        'placement': plain_auth(etc, 'placement'),
        'glance': {'api_servers': 'http://%s:9292' % IP},
        'neutron': plain_auth(etc, 'neutron'),
        'conductor': {'workers': '1'},
        'scheduler': {'workers': '1'},
        'filter_scheduler': {'enabled_filters': ','.join(scheduler_filters(
            nova_sched_filters()))},
        'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
        # nova-novncproxy (tools/aio.sh) on loopback; noVNC's pages from
        # Debian's novnc package, unpacked under STATE/novnc.
        'vnc': {'enabled': 'true', 'novncproxy_host': IP,
                'novncproxy_port': str(NOVNC_PORT),
                'novncproxy_base_url': 'http://%s:%d/vnc_lite.html' % (
                    IP, NOVNC_PORT)},
        # The target's SEA agent can report a port plugged only once LPM has
        # moved the partition's adapters (startup.warn_conf).
        'compute': {'live_migration_wait_for_vif_plug': 'false'},
        'oslo_messaging_notifications': {'driver': 'noop'},
    })
    os.makedirs(os.path.join(state, 'nova'), exist_ok=True)
    for n in range(1, nhosts(etc) + 1):
        # nova-compute writes its node identity (compute_id) there.
        os.makedirs(os.path.join(state, 'nova%d' % n, 'instances'),
                    exist_ok=True)
        write(os.path.join(d, 'compute%d.conf' % n), {
            'DEFAULT': {'host': 'pvm%d' % n,
                        'state_path': os.path.join(state, 'nova%d' % n),
                        'instances_path': os.path.join(
                            state, 'nova%d' % n, 'instances')},
            # NovaLink's local (file-based) logon, no password, as for a
            # nova-compute on the NovaLink partition: pypowervm opens
            # consoles only then (mkvterm is a local command).
            'powervm': {'host': IP, 'port': SIM_PORT + n - 1,
                        'protocol': 'http', 'username': 'neo',
                        'disk_driver': disk_driver(nhosts(etc)),
                        'volume_group_name': 'datavg',
                        'mgmt_disk_by_id_dir': mgmt_disk_dir(etc, state, n)},
            'vnc': {'server_proxyclient_address': console_ip(n)},
        })


def main(argv):
    service, etc, state = argv[1:4]
    os.makedirs(os.path.join(state, 'lock'), exist_ok=True)
    globals()[service](etc, state)


if __name__ == '__main__':
    main(sys.argv)
