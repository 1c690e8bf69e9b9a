#!/usr/bin/env python3
"""Print the failed and unfinished tests of stestr runs, tracebacks first.

CI shows only the tail of its log: this prints each failed test's
traceback (and the end of its captured output), then a short list of the
failing test ids last, so the tail names them.  A test that started but
never finished (a worker killed or hung) is listed too.

Usage: ``show_failures.py SUBUNIT_FILE...`` (e.g. ``.stestr/3``: stestr
stores subunit v1, ``stestr last --subunit`` gives v2; both are read).
Exit status 1 when any test failed or did not finish.
"""
import io
import os
import sys

import subunit
import testtools

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_skips  # noqa: E402  (tools/, next to this script)

FAILED = ('fail', 'uxsuccess')
UNFINISHED = ('inprogress',)
TAIL = 3000


def problems(stream):
    """[(test id, status, details)] of the failed/unfinished tests."""
    found = []

    def on_test(test):
        if test['status'] in FAILED + UNFINISHED:
            found.append((test['id'], test['status'], test['details']))
    check_skips.each_test(stream, on_test)
    return found


def _as_v2(data):
    """Subunit v2 bytes of a v1 or v2 stream."""
    if not data or data[0] == 0xb3:     # v2 packets start with 0xb3
        return io.BytesIO(data)
    out = io.BytesIO()
    result = testtools.ExtendedToStreamDecorator(
        subunit.StreamResultToBytes(out))
    result.startTestRun()
    try:
        subunit.ProtocolTestCase(io.BytesIO(data),
                                 passthrough=io.BytesIO()).run(result)
    finally:
        result.stopTestRun()
    out.seek(0)
    return out


def _text(content):
    try:
        return content.as_text()
    except Exception:  # a binary attachment
        return '(%d bytes of binary content)' % sum(
            len(chunk) for chunk in content.iter_bytes())


def report(found, out=None):
    """Write the details of found, then the list of ids; return the count."""
    out = out or sys.stdout
    for tid, status, details in found:
        out.write('=' * 70 + '\n%s: %s\n' % (status or 'unfinished', tid))
        for name in sorted(details, key=lambda n: n == 'traceback'):
            text = _text(details[name]).rstrip()
            if not text:
                continue
            if name != 'traceback' and len(text) > TAIL:
                text = '...\n' + text[-TAIL:]
            out.write('--- %s ---\n%s\n' % (name, text))
    if found:
        out.write('=' * 70 + '\n%d test(s) failed or did not finish:\n'
                  % len(found))
        for tid, status, _details in found:
            out.write('  %s (%s)\n' % (tid, status or 'unfinished'))
    return len(found)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    found = []
    for path in argv:
        with open(path, 'rb') as stream:
            found.extend(problems(_as_v2(stream.read())))
    return 1 if report(found) else 0


if __name__ == '__main__':
    sys.exit(main())
