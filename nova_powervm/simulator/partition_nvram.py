"""Partition NVRAM, as the REST API holds and reports it.

Every client partition has ``PartitionNVRAM`` (extended group ``NVRAM``,
base64 text): the firmware fills it at creation unless the create sends
one (what a driver does to restore a recreated partition), an update may
replace it while the partition is off, and the firmware rewrites it when a
power job ends, which the event feed reports as a ``MODIFY_URI`` whose
detail is ``NVRAM`` (as NovaLink does).  Controls: ``nvram(lpar_uuid)``
(the base64 text), ``write_nvram(lpar_uuid, data)`` (the guest OS changed
its boot settings: new content and the event).  Refused, with the REST
API's error shape: NVRAM that is not base64, is empty or is larger than
:data:`MAX_BYTES` (400), and a change of a running partition's NVRAM (409).
"""
import base64
import binascii

from nova_powervm.simulator import errors
from nova_powervm.simulator import partition
from nova_powervm.simulator import registry as reg

EL = 'PartitionNVRAM'
GROUP = 'NVRAM'
DETAIL = 'NVRAM'
# Largest NVRAM accepted (decoded bytes); the firmware's own is 4 KiB here.
MAX_BYTES = 256 * 1024
_INITIAL_BYTES = 4096
_ATTRS = {'group': GROUP, 'kb': 'CUD', 'kxe': 'false',
          'schemaVersion': 'V1_1_0'}


def _check(obj, text):
    """Decoded bytes of client-sent NVRAM text; 400 when invalid."""
    name = obj.text('PartitionName')
    try:
        data = base64.b64decode((text or '').strip(), validate=True)
    except (binascii.Error, ValueError):
        raise errors.BadRequest('HSCL1A20 The NVRAM of partition %s is not '
                                'valid base64 data' % name)
    if not data or len(data) > MAX_BYTES:
        raise errors.BadRequest('HSCL1A21 The NVRAM of partition %s must '
                                'hold 1 to %d bytes (%d given)'
                                % (name, MAX_BYTES, len(data)))
    return data


def _initial(obj):
    head = b'PVM-NVRAM\0' + obj.uuid.encode('ascii') + b'\0'
    return head + b'\0' * (_INITIAL_BYTES - len(head))


def _set(obj, data):
    el = obj.element.find('{*}' + EL)
    if el is None:
        el = obj.set(EL, '')
        el.attrib.clear()
        el.attrib.update(_ATTRS)
    el.text = base64.b64encode(data).decode('ascii')


@reg.on_create('LogicalPartition')
def _on_create(sim, obj, ctx):
    sent = obj.element.find('{*}' + EL)
    _set(obj, _initial(obj) if sent is None else _check(obj, sent.text))


@reg.on_update('LogicalPartition')
def _on_update(sim, obj, old, ctx):
    stored = old.find('{*}' + EL)
    sent = obj.element.find('{*}' + EL)
    if sent is None:
        # Not in the body: unchanged.
        if stored is not None:
            _set(obj, base64.b64decode(stored.text or ''))
        return
    if stored is not None and (sent.text or '').strip() == stored.text:
        return
    data = _check(obj, sent.text)
    if obj.text('PartitionState') != 'not activated':
        raise errors.SimError(
            409, 'HSCL1A22 The NVRAM of partition %s can only be set while '
            'it is not activated (it is %s)'
            % (obj.text('PartitionName'), obj.text('PartitionState')))
    _set(obj, data)


def _rewritten(sim, obj):
    """A power job ended: the firmware wrote the NVRAM (event only)."""
    if obj.type == 'LogicalPartition':
        sim.store.touch(obj, detail=DETAIL)


partition.POWER_HOOKS.append(_rewritten)


def _lpar(sim, lpar_uuid):
    obj = partition._partition(sim, lpar_uuid.upper())
    if obj.type != 'LogicalPartition':
        raise KeyError('%s is a Virtual I/O Server' % lpar_uuid)
    return obj


@reg.control('nvram')
def nvram(sim, lpar_uuid):
    """The partition's NVRAM as the REST API reports it (base64 text)."""
    with sim.lock:
        return _lpar(sim, lpar_uuid).text(EL)


@reg.control('write_nvram')
def write_nvram(sim, lpar_uuid, data):
    """The guest changed its NVRAM (``data``: bytes or text): event."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with sim.lock:
        obj = _lpar(sim, lpar_uuid)
        _set(obj, data)
        sim.store.touch(obj, detail=DETAIL)
