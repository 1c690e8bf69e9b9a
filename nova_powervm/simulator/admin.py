"""Admin HTTP API under /sim/admin/ (JSON in, JSON out; no auth).

GET    /sim/admin/info                  host/VIOS/mgmt UUIDs, base URL
GET    /sim/admin/inventory             Simulator.inventory()
GET    /sim/admin/requests              request log
DELETE /sim/admin/requests              clear it
GET    /sim/admin/counters              counters
GET    /sim/admin/faults                armed faults
POST   /sim/admin/faults                inject_fault(**body) -> {"id": n}
DELETE /sim/admin/faults                clear_faults()
POST   /sim/admin/latency               {"ms": n}
POST   /sim/admin/reset                 reset()
POST   /sim/admin/expire-sessions       expire_sessions()
POST   /sim/admin/partitions/<uuid>/state   {"state": "running"}
POST   /sim/admin/call/<control>        any control by name, body = kwargs
"""
import json
import re

from nova_powervm.simulator import errors
from nova_powervm.simulator import wire

_STATE_RE = re.compile(r'^/sim/admin/partitions/([^/]+)/state$')
_CALL_RE = re.compile(r'^/sim/admin/call/(\w+)$')


def _json(data, status=200):
    return wire.Response(status, json.dumps(data, sort_keys=True,
                                            default=str).encode(),
                         {'Content-Type': 'application/json'})


def _body(req):
    raw = req.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise errors.BadRequest('Body is not JSON: %s' % e)
    if not isinstance(data, dict):
        raise errors.BadRequest('Body must be a JSON object')
    return data


def handle(sim, req):
    path, m = req.path, req.method
    if path == '/sim/admin/info' and m == 'GET':
        return _json({'base_url': sim.base_url, 'host_uuid': sim.host_uuid,
                      'vios_uuids': sim.vios_uuids,
                      'mgmt_uuid': sim.mgmt_uuid})
    if path == '/sim/admin/inventory' and m == 'GET':
        return _json(sim.inventory())
    if path == '/sim/admin/requests':
        if m == 'GET':
            return _json(sim.request_log())
        if m == 'DELETE':
            sim.clear_request_log()
            return wire.Response(204)
    if path == '/sim/admin/counters' and m == 'GET':
        return _json(sim.counters())
    if path == '/sim/admin/faults':
        if m == 'GET':
            return _json(sim.faults.list())
        if m == 'POST':
            try:
                return _json({'id': sim.inject_fault(**_body(req))})
            except (TypeError, ValueError, re.error) as e:
                raise errors.BadRequest('Bad fault: %s' % e)
        if m == 'DELETE':
            sim.clear_faults()
            return wire.Response(204)
    if path == '/sim/admin/latency' and m == 'POST':
        sim.set_latency(int(_body(req).get('ms', 0)))
        return wire.Response(204)
    if path == '/sim/admin/reset' and m == 'POST':
        sim.reset()
        return wire.Response(204)
    if path == '/sim/admin/expire-sessions' and m == 'POST':
        sim.expire_sessions()
        return wire.Response(204)
    match = _STATE_RE.match(path)
    if match and m == 'POST':
        try:
            sim.set_partition_state(match.group(1), _body(req)['state'])
        except KeyError as e:
            raise errors.NotFound(str(e))
        return wire.Response(204)
    match = _CALL_RE.match(path)
    if match and m == 'POST':
        try:
            result = sim.call(match.group(1), **_body(req))
        except AttributeError as e:
            raise errors.NotFound(str(e))
        except (TypeError, ValueError, KeyError) as e:
            raise errors.BadRequest('%s: %s' % (match.group(1), e))
        return _json({'result': result})
    raise errors.NotFound('No admin resource %s %s' % (m, path))
