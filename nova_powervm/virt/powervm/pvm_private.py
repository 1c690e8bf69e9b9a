"""The pypowervm internals the driver still relies on, in one place.

Each section names the concern, why pypowervm's public API does not serve,
and the behaviour relied on; ``tests/virt/powervm/test_pvm_private.py`` pins
that behaviour, so a pypowervm upgrade that changes it fails a test, not a
host.  Other concerns add their own section here.
"""


# -- session renewal (image uploads) -----------------------------------------
#
# An upload's data stream cannot be re-sent: when the REST session expires
# while an upload runs, pypowervm logs on again and re-sends the request
# without its data, and the upload fails.  The caller retries such an
# upload, and only such a one, so it must know whether the session was
# renewed meanwhile.  pypowervm offers no public signal for a re-logon; the
# session's token (``Session._sessToken``, replaced by every logon) is it.

def session_identity(session):
    """An opaque value that changes whenever ``session`` logs on again.

    None when the session has no token (not logged on, or a pypowervm that
    no longer keeps one: then no renewal is ever detected, and an upload
    that failed is not retried).
    """
    return getattr(session, '_sessToken', None)
