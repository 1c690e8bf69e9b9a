"""The ManagementConsole (NovaLink) object and its SSH keys.

Each host's NovaLink is a ``ManagementConsole`` (from pypowervm's recorded
``managementconsole_ssh.txt``): its own ``PublicSSHKey`` (server-owned, an
invented one per host) and ``AuthorizedKeys`` (empty at start), which a
client updates (pypowervm's ``tasks.management_console``).  A migration to
another NovaLink runs over SSH: the target console must authorize the
source console's public key (``partition_mobility_check``).
"""
import base64
import hashlib

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import san as sim_san
from nova_powervm.simulator import seed
from nova_powervm.simulator import xmlutil as xu

reg.register_type('ManagementConsole')
_CACHE = []
_KEY_TYPES = ('ssh-rsa', 'ssh-ed25519', 'ssh-dss', 'ecdsa-sha2-')


def console(sim):
    found = sim.store.of_type('ManagementConsole')
    return found[0] if found else None


def public_key(sim):
    mc = console(sim)
    return (mc.text('PublicSSHKey') or '').strip() if mc else None


def authorized_keys(sim):
    mc = console(sim)
    return [(k.text or '').strip() for k in xu.findall(
        mc.element, 'AuthorizedKeys/AuthorizedKey')] if mc else []


def _invented_key(index):
    # Not a real key: a recognisable, stable blob per host.
    blob = b'\x00\x00\x00\x07ssh-rsa' + hashlib.sha256(
        b'powervm-sim-host-%d' % index).digest() * 8
    return 'ssh-rsa %s wlp@novalink-h%d' % (
        base64.b64encode(blob).decode(), index)


@reg.seeder
def _seed_console(sim):
    if not _CACHE:
        uid, el = list(seed.recorded('managementconsole_ssh.txt').items())[0]
        _CACHE.append((uid, etree.tostring(el)))
    uid, data = _CACHE[0]
    index = getattr(sim, 'host_index', 0)
    el = etree.fromstring(data, xu.parser())
    uid = sim_san.host_uuid(index, uid)
    xu.set_text(el, 'Metadata/Atom/AtomID', uid)
    ms = sim.store.of_type('ManagedSystem')[0]
    for f in ('MachineType', 'Model', 'SerialNumber'):
        xu.set_text(el, 'MachineTypeModelAndSerialNumber/' + f,
                    ms.text('MachineTypeModelAndSerialNumber/' + f))
    xu.set_text(el, 'ManagementConsoleName', 'novalink-h%d' % index)
    xu.set_text(el, 'PublicSSHKey', _invented_key(index))
    keys = xu.child(el, 'AuthorizedKeys')
    for k in xu.findall(keys, 'AuthorizedKey'):
        keys.remove(k)
    sim.store.add('ManagementConsole', uid, el, emit=False)


@reg.on_create('ManagementConsole')
def _no_create(sim, obj, ctx):
    raise errors.SimError(405, 'A ManagementConsole cannot be created')


@reg.on_update('ManagementConsole')
def _update(sim, obj, old, ctx):
    # The console's own key is the server's; authorized keys must be keys.
    xu.set_text(obj.element, 'PublicSSHKey', xu.text(old, 'PublicSSHKey'))
    for k in xu.findall(obj.element, 'AuthorizedKeys/AuthorizedKey'):
        if not (k.text or '').strip().startswith(_KEY_TYPES):
            raise errors.BadRequest('AuthorizedKey %r is not an SSH public '
                                    'key' % (k.text or '')[:40])


@reg.on_delete('ManagementConsole')
def _no_delete(sim, obj, ctx):
    raise errors.SimError(405, 'A ManagementConsole cannot be deleted')
