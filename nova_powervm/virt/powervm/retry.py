"""An idempotent clean-up tried again after a failure.

Low level (imports nothing of the driver): what a caller catches and what
it logs stay the caller's, passed in.
"""


def call(func, tries, catch, on_failure, default=None):
    """``func()`` tried up to ``tries`` times while it raises ``catch``.

    :param on_failure: ``on_failure(error, left)`` after each failure,
        inside its ``except`` block (``LOG.exception`` has the traceback);
        ``left``: the attempts still to come (0 after the last one).
    :return: what ``func`` returned, or ``default`` after ``tries``
        failures.  Other exceptions propagate at once.
    """
    for left in range(tries - 1, -1, -1):
        try:
            return func()
        except catch as e:
            on_failure(e, left)
    return default
