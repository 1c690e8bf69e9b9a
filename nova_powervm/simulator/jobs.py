"""Jobs as pypowervm runs them: template GET, request PUT, poll, delete."""
import collections
import itertools
import threading
import time

from lxml import etree

from nova_powervm.simulator import errors
from nova_powervm.simulator import registry
from nova_powervm.simulator import timing
from nova_powervm.simulator import wire
from nova_powervm.simulator import xmlutil as xu

_MAX_JOBS = 2000
OK = 'COMPLETED_OK'
RUNNING = 'RUNNING'


class JobRecord(object):
    def __init__(self, jid, op, group, target, req_path, params, request_el):
        self.id = jid
        self.op = op
        self.group = group
        self.target = target
        self.req_path = req_path
        self.params = params
        self.request_el = request_el
        self.status = RUNNING
        self.results = {}
        self.message = None
        self.started = int(time.time() * 1000)
        self.completed = None

    def finish(self, results=None, failure=None):
        if self.status != RUNNING:
            return
        self.completed = int(time.time() * 1000)
        if failure is not None:
            self.status = failure.status
            self.message = failure.message
            self.results = dict(getattr(failure, 'results', None) or {})
        else:
            self.status = OK
            self.results = dict(results or {})


class JobStore(object):
    def __init__(self):
        self.jobs = collections.OrderedDict()
        self._ids = itertools.count(int(time.time() * 1000))
        self.lock = threading.Lock()
        self.started = 0

    def new_id(self):
        return str(next(self._ids))

    def add(self, rec):
        with self.lock:
            self.started += 1
            self.jobs[rec.id] = rec
            while len(self.jobs) > _MAX_JOBS:
                self.jobs.popitem(last=False)

    def get(self, jid):
        with self.lock:
            rec = self.jobs.get(jid)
        if rec is None:
            raise errors.NotFound('Job %s not found' % jid)
        return rec

    def remove(self, jid):
        with self.lock:
            if self.jobs.pop(jid, None) is None:
                raise errors.NotFound('Job %s not found' % jid)


def template(op, group):
    """A JobRequest element as the real API offers it."""
    el = xu.web_element('JobRequest')
    ro = xu.make(el, 'RequestedOperation',
                 attrib={'kb': 'CUR', 'kxe': 'false',
                         'schemaVersion': 'V1_0'})
    xu.metadata(ro)
    xu.make(ro, 'OperationName', op)
    xu.make(ro, 'GroupName', group)
    jp = xu.make(el, 'JobParameters', attrib={'kb': 'CUR', 'kxe': 'false',
                                              'schemaVersion': 'V1_0'})
    xu.metadata(jp)
    return el


def params_of(el):
    out = {}
    for p in xu.findall(el, 'JobParameters/JobParameter'):
        out[xu.text(p, 'ParameterName')] = xu.text(p, 'ParameterValue', '')
    return out


def response_element(sim, rec):
    el = xu.web_element('JobResponse')
    xu.make(el, 'RequestURL', attrib={
        'kb': 'ROR', 'kxe': 'false', 'rel': 'via',
        'href': sim.base_url + rec.req_path,
        'title': 'The URL to which the JobRequest was submitted.'})
    if rec.target is not None:
        xu.make(el, 'TargetUuid', rec.target.uuid)
    xu.make(el, 'JobID', rec.id)
    xu.make(el, 'TimeStarted', rec.started)
    xu.make(el, 'TimeCompleted', rec.completed or 0)
    xu.make(el, 'Status', rec.status)
    if rec.message is not None:
        rex = xu.make(el, 'ResponseException',
                      attrib={'kb': 'ROR', 'kxe': 'false',
                              'schemaVersion': 'V1_0'})
        xu.metadata(rex)
        xu.make(rex, 'Message', rec.message)
    inst = etree.fromstring(etree.tostring(rec.request_el))
    inst.tag = '{%s}JobRequestInstance' % xu.WEB_NS
    el.append(inst)
    res = xu.make(el, 'Results', attrib={'kb': 'ROR', 'kxe': 'false',
                                         'schemaVersion': 'V1_0'})
    xu.metadata(res)
    for name, value in rec.results.items():
        jp = xu.make(res, 'JobParameter', attrib={'schemaVersion': 'V1_0'})
        xu.metadata(jp)
        xu.make(jp, 'ParameterName', name)
        xu.make(jp, 'ParameterValue', value,
                attrib={'kb': 'CUR', 'kxe': 'false'})
    return el


def _job_response(sim, rec):
    body = xu.entry_bytes(
        rec.id, '%s/rest/api/uom/jobs/%s' % (sim.base_url, rec.id), None,
        etree.tostring(response_element(sim, rec)), 'JobResponse', web=True)
    return wire.xml_response(200, body)


def handle_do(sim, req, type_name, target, op):
    """GET/PUT <...>/do/<op>.  Called WITHOUT sim.lock held."""
    if not op:
        raise errors.NotFound('No operation in %s' % req.path)
    if req.method == 'GET':
        with sim.lock:
            return wire.xml_response(200, xu.entry_bytes(
                sim.new_uuid('JobRequest'), None, None,
                etree.tostring(template(op, type_name)), 'JobRequest',
                web=True))
    if req.method != 'PUT':
        raise errors.SimError(405, '%s not allowed on %s' % (req.method,
                                                             req.path))
    body = req.body()
    with sim.lock:
        el = xu.parse(body)
        if xu.localname(el) != 'JobRequest':
            raise errors.BadRequest('Expected a JobRequest, got %s'
                                    % xu.localname(el))
        sent_op = xu.text(el, 'RequestedOperation/OperationName')
        if sent_op and sent_op != op:
            raise errors.BadRequest('Operation %s sent to %s'
                                    % (sent_op, req.path))
        rec = JobRecord(sim.jobs.new_id(), op, type_name, target, req.path,
                        params_of(el), el)
    sim.jobs.add(rec)
    _run(sim, req, rec)
    with sim.lock:
        return _job_response(sim, rec)


def _run(sim, req, rec):
    handler = (registry.JOBS.get((rec.group, rec.op)) or
               registry.JOBS.get((None, rec.op)))
    # Job records change and are read only under sim.lock.
    if getattr(req, 'job_failure', None):
        with sim.lock:
            rec.finish(failure=errors.JobFailure(req.job_failure))
        return
    if handler is None:
        with sim.lock:
            rec.finish(failure=errors.JobFailure(
                'Operation %s on %s is not modelled by the simulator'
                % (rec.op, rec.group)))
        return
    ctx = {'req': req, 'job': rec}
    with sim.lock:
        try:
            out = handler(sim, rec.target, rec.params, ctx)
        except errors.JobFailure as e:
            rec.finish(failure=e)
            return
        if not isinstance(out, errors.JobDelay):
            rec.finish(results=out)
            return
    if out.seconds <= sim.sync_job_max_s:
        timing.modelled_sleep(out.seconds)
        _finish_delayed(sim, rec, out)
    else:
        t = threading.Timer(out.seconds, _finish_delayed, (sim, rec, out))
        t.daemon = True
        t.start()


def _finish_delayed(sim, rec, delay):
    # Like PowerVM, a cancelled job's operation still completes; only the
    # job's own status (already failed by the cancel) is left alone.
    xu.mark_simulator_thread()
    with sim.lock:
        try:
            rec.finish(results=delay.finish())
        except errors.JobFailure as e:
            rec.finish(failure=e)
        except Exception as e:   # never leave a job RUNNING forever
            rec.finish(failure=errors.JobFailure('Internal error: %s' % e))


def handle_jobs(sim, req, chain, suffix):
    """GET/DELETE /rest/api/uom/jobs/<id>, POST .../jobs/<id>/cancel."""
    jid = chain[0][1]
    if jid is None:
        raise errors.NotFound('No job id in %s' % req.path)
    if len(chain) == 2 and chain[1] == ('cancel', None):
        rec = sim.jobs.get(jid)
        with sim.lock:
            rec.finish(failure=errors.JobFailure('Job %s was cancelled'
                                                 % jid))
        return wire.Response(204)
    if len(chain) != 1:
        raise errors.NotFound('Unknown job path %s' % req.path)
    if req.method == 'GET':
        rec = sim.jobs.get(jid)
        with sim.lock:
            return _job_response(sim, rec)
    if req.method == 'DELETE':
        sim.jobs.remove(jid)
        return wire.Response(204)
    raise errors.SimError(405, '%s not allowed on %s' % (req.method,
                                                         req.path))
