#!/usr/bin/env python3
"""Fail when a test was skipped for any reason but a missing external tool.

The functional suite runs against the simulator, which models everything
the tests use: a skip there hides an untested flow.  The one accepted
reason is a tool the host lacks (e.g. genisoimage), and it must say so:
the skip reason starts with ``missing external tool:``.

Usage: ``check_skips.py [SUBUNIT_FILE|-]``; without an argument it reads
``stestr last --subunit`` (the run tox just made).  Exit status 1 lists
the offending tests.  ``check_skips.py --by-reason SUBUNIT_FILE`` only
lists the skips grouped by reason, most frequent first (for Tempest runs,
where skips are expected; exit status 0).
"""
import io
import subprocess  # nosec B404 - runs stestr, fixed argv
import sys

import subunit
import testtools

ALLOWED_PREFIX = 'missing external tool:'


def each_test(stream, on_test):
    """Call ``on_test(test dict)`` for each test of a subunit v2 stream.

    (testtools.StreamToDict's dicts: id, status, details; a test that
    never finished comes last with status ``inprogress``.)
    """
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        subunit.ByteStreamToStreamResult(
            stream, non_subunit_name='stdout').run(result)
    finally:
        result.stopTestRun()


def skips(stream):
    """[(test id, reason)] of the skipped tests in a subunit v2 stream."""
    found = []

    def on_test(test):
        if test['status'] != 'skip':
            return
        reason = test['details'].get('reason')
        text = reason.as_text() if reason is not None else ''
        found.append((test['id'], text.strip()))
    each_test(stream, on_test)
    return found


def bad_skips(stream):
    """The skips whose reason does not name a missing external tool."""
    return [(tid, reason) for tid, reason in skips(stream)
            if not reason.startswith(ALLOWED_PREFIX)]


def by_reason(found):
    """[(reason, [test ids])], the most frequent reason first."""
    groups = {}
    for tid, reason in found:
        groups.setdefault(reason, []).append(tid)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _print_by_reason(found):
    print('%d skip(s), by reason:' % len(found))
    for reason, tids in by_reason(found):
        print('%4d  %s' % (len(tids), reason or '(no reason)'))
        for tid in sorted(tids):
            print('        %s' % tid.split('[')[0])


def _stestr_last():
    proc = subprocess.run(  # nosec B603 B607 - fixed argv
        ['stestr', 'last', '--subunit'], stdout=subprocess.PIPE, check=True)
    return io.BytesIO(proc.stdout)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    grouped = bool(argv) and argv[0] == '--by-reason'
    if grouped:
        argv = argv[1:]
    if not argv:
        stream = _stestr_last()
    elif argv[0] == '-':
        stream = sys.stdin.buffer
    else:
        stream = open(argv[0], 'rb')
    with stream:
        all_skips = skips(stream)
    if grouped:
        _print_by_reason(all_skips)
        return 0
    bad = [(t, r) for t, r in all_skips if not r.startswith(ALLOWED_PREFIX)]
    # (bad_skips() is the same filter for callers holding a stream.)
    for tid, reason in bad:
        print('forbidden skip: %s: %s' % (tid, reason or '(no reason)'))
    if bad:
        print('%d test(s) skipped; a skip is allowed only when its reason '
              'starts with %r' % (len(bad), ALLOWED_PREFIX))
        return 1
    print('check_skips: %d skip(s), all for missing external tools'
          % len(all_skips))
    return 0


if __name__ == '__main__':
    sys.exit(main())
