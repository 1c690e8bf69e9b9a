"""Exceptions the simulator turns into HTTP errors or failed jobs."""


class SimError(Exception):
    """An HTTP error answer (HttpErrorResponse body)."""

    def __init__(self, status, message, reason=None):
        super(SimError, self).__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


class NotFound(SimError):
    def __init__(self, message):
        super(NotFound, self).__init__(404, message, 'Resource not found')


class BadRequest(SimError):
    def __init__(self, message):
        super(BadRequest, self).__init__(400, message, 'Bad request')


class PreconditionFailed(SimError):
    def __init__(self, message):
        super(PreconditionFailed, self).__init__(412, message,
                                                 'Precondition failed')


class JobFailure(Exception):
    """A job handler's failure; message becomes the job's error text.

    ``results``: job results the failed job still carries (the iSCSI jobs'
    RETURN_CODE).
    """

    def __init__(self, message, status='FAILED_BEFORE_COMPLETION',
                 results=None):
        super(JobFailure, self).__init__(message)
        self.message = message
        self.status = status
        self.results = results


class JobDelay(object):
    """Returned by a job handler to finish after a delay.

    finish() runs (under the state lock) after 'seconds'; it returns a dict
    of results or raises JobFailure.
    """

    def __init__(self, seconds, finish):
        self.seconds = seconds
        self.finish = finish


class OutsideStateDir(SimError, ValueError):
    """A control was asked to write outside the simulator's state dir."""

    def __init__(self, path, state_dir):
        super(OutsideStateDir, self).__init__(
            403, 'Refusing to write %s: the simulator writes only under its '
            'state directory %s' % (path, state_dir), 'Forbidden')
