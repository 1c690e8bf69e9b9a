"""Admin HTTP API under /sim/admin/ (JSON in, JSON out).

Every request needs the simulator's admin token in the ``X-Sim-Admin-Token``
header (``Simulator.admin_token``; the started simulator also writes it to
``<state_dir>/admin-token``): none -> 401, a wrong one -> 403.  A simulator
made with ``admin_api=False`` answers 404 here.

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
POST   /sim/admin/call/<control>        a control by name, body = kwargs
                                        (not the lifecycle: start, stop,
                                        close, restart)
"""
import json
import re
import secrets

from nova_powervm.simulator import errors
from nova_powervm.simulator import wire

TOKEN_HEADER = 'X-Sim-Admin-Token'
# Controls the admin API does not offer: they would stop the server that is
# answering the request.
_LOCAL_ONLY = frozenset(('start', 'stop', 'close', 'restart', 'call'))

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


def check_token(sim, req):
    """Refuse a request without the admin token (401) or a wrong one (403)."""
    if not sim.admin_api:
        raise errors.NotFound('The admin API is off in this simulator')
    given = req.headers.get(TOKEN_HEADER)
    if not given:
        raise errors.SimError(401, 'The admin API needs the %s header'
                              % TOKEN_HEADER, 'Unauthorized')
    if not secrets.compare_digest(given.encode(), sim.admin_token.encode()):
        raise errors.SimError(403, 'Wrong admin token', 'Forbidden')


def handle(sim, req):
    check_token(sim, req)
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
        except ValueError as e:
            raise errors.BadRequest(str(e))
        return wire.Response(204)
    match = _CALL_RE.match(path)
    if match and m == 'POST':
        if match.group(1) in _LOCAL_ONLY:
            raise errors.SimError(403, 'Control %s is not offered by the '
                                  'admin API' % match.group(1), 'Forbidden')
        try:
            result = sim.call(match.group(1), **_body(req))
        except errors.SimError:
            raise
        except AttributeError as e:
            raise errors.NotFound(str(e))
        except (TypeError, ValueError, KeyError) as e:
            raise errors.BadRequest('%s: %s' % (match.group(1), e))
        return _json({'result': result})
    raise errors.NotFound('No admin resource %s %s' % (m, path))
