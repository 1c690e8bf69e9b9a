"""Idempotent API set-up for tools/aio.sh (one process: the CLI is slow).

    python tools/aio_resources.py identity AIO_DIR
    python tools/aio_resources.py resources AIO_DIR
    python tools/aio_resources.py wait-computes AIO_DIR N SECONDS

identity: the ``service`` project, the service users (admin role there;
never re-created: services cache their tokens), services and endpoints.
resources: flavors, the raw image, the shared VLAN network ``private``, the
external flat network ``public`` and a router between them.
wait-computes: until N nova-compute services are up; then exit 0.
"""
import os
import sys
import time

import openstack

import aio_conf  # tools/ is sys.path[0] when run as a script

IP = aio_conf.IP
SERVICES = [('placement', 'placement', 8778, ''),
            ('glance', 'image', 9292, ''),
            ('neutron', 'network', 9696, ''),
            ('nova', 'compute', 8774, '/v2.1')]
FLAVORS = [('m1.pvm', 1, 512, 1), ('m1.pvm2', 1, 1024, 2)]


def secret(aio_dir, name):
    """A password kept in AIO_DIR/etc/secrets (see aio_conf.secret)."""
    return aio_conf.secret(os.path.join(aio_dir, 'etc'), name)


def connect(aio_dir):
    return openstack.connect(
        auth_url='http://%s:5000/v3' % IP, username='admin',
        password=secret(aio_dir, 'admin'), project_name='admin',
        user_domain_name='Default', project_domain_name='Default',
        region_name='RegionOne', identity_api_version='3')


def identity(conn, aio_dir):
    idt = conn.identity
    project = (idt.find_project('service', domain_id='default') or
               idt.create_project(name='service', domain_id='default'))
    # 'service' too: keystonemiddleware refuses a service token (nova's
    # X-Service-Token to neutron, cinder...) without it (HTTP 401).
    roles = [idt.find_role('admin'),
             idt.find_role('service') or idt.create_role(name='service')]
    for user_name, stype, port, path in SERVICES:
        user = idt.find_user(user_name, domain_id='default')
        if user is None:
            user = idt.create_user(name=user_name, domain_id='default',
                                   password=secret(aio_dir, user_name))
        for role in roles:
            idt.assign_project_role_to_user(project, user, role)
        svc = next((s for s in idt.services() if s.type == stype), None)
        if svc is None:
            svc = idt.create_service(name=user_name, type=stype)
        have = {e.interface for e in idt.endpoints(service_id=svc.id)}
        for iface in ('public', 'internal', 'admin'):
            if iface not in have:
                idt.create_endpoint(service_id=svc.id, interface=iface,
                                    region_id='RegionOne',
                                    url='http://%s:%d%s' % (IP, port, path))


def resources(conn, aio_dir):
    for name, vcpus, ram, disk in FLAVORS:
        if conn.compute.find_flavor(name) is None:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram,
                                       disk=disk)
    # Two distinct images: Tempest rebuilds onto image_ref_alt and filters
    # server lists by image (skipped when both are one image).
    for name, fill in (('aio-raw', b'\0'), ('aio-raw-alt', b'\1')):
        if conn.image.find_image(name) is None:
            path = os.path.join(aio_dir, 'state', name + '.img')
            with open(path, 'wb') as f:
                f.write(fill * 1048576)
            conn.create_image(name, filename=path, disk_format='raw',
                              container_format='bare', visibility='public',
                              wait=True)
    net = conn.network
    private = net.find_network('private')
    if private is None:
        private = net.create_network(
            name='private', is_shared=True, provider_network_type='vlan',
            provider_physical_network='default')
    priv_sub = net.find_subnet('private-subnet')
    if priv_sub is None:
        priv_sub = net.create_subnet(network_id=private.id, ip_version=4,
                                     cidr='10.10.0.0/24',
                                     name='private-subnet')
    public = net.find_network('public')
    if public is None:
        public = net.create_network(
            name='public', is_router_external=True,
            provider_network_type='flat', provider_physical_network='public')
    if net.find_subnet('public-subnet') is None:
        net.create_subnet(network_id=public.id, ip_version=4,
                          cidr='172.24.4.0/24', name='public-subnet',
                          is_dhcp_enabled=False)
    if net.find_router('router1') is None:
        router = net.create_router(
            name='router1', external_gateway_info={'network_id': public.id})
        net.add_interface_to_router(router, subnet_id=priv_sub.id)


def _failed(aio_dir, name):
    """Whether aio.sh's process NAME ended, or logged CRITICAL since start.

    A nova service may log its CRITICAL start-up error and linger.
    """
    run = os.path.join(aio_dir, 'run', name)
    try:
        with open(run + '.pid') as f:
            pid = int(f.read())
        with open('/proc/%d/stat' % pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                return True
        with open(run + '.logpos') as f:
            pos = int(f.read() or 0)
        with open(os.path.join(aio_dir, 'logs', name + '.log'), 'rb') as f:
            f.seek(pos)
            return b' CRITICAL ' in f.read()
    except (OSError, ValueError, IndexError):
        return True


def _dead_computes(aio_dir, n):
    names = ['nova-compute%d' % i for i in range(1, int(n) + 1)]
    return [name for name in names if _failed(aio_dir, name)]


def wait_computes(conn, aio_dir, n, seconds):
    end = time.monotonic() + float(seconds)
    while True:
        dead = _dead_computes(aio_dir, n)
        if dead:
            sys.exit('%s exited' % ', '.join(dead))
        try:
            up = [s for s in conn.compute.services(binary='nova-compute')
                  if s.state == 'up']
            if len(up) >= int(n):
                return
        except openstack.exceptions.SDKException:
            pass
        if time.monotonic() > end:
            sys.exit('%s nova-compute service(s) not up after %ss'
                     % (n, seconds))
        time.sleep(2)


def main(argv):
    cmd, aio_dir = argv[1], argv[2]
    conn = connect(aio_dir)
    if cmd == 'identity':
        identity(conn, aio_dir)
    elif cmd == 'resources':
        resources(conn, aio_dir)
    elif cmd == 'wait-computes':
        wait_computes(conn, aio_dir, argv[3], argv[4])
    else:
        sys.exit('unknown command %s' % cmd)


if __name__ == '__main__':
    main(sys.argv)
