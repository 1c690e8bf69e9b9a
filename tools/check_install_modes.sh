#!/usr/bin/env bash
# Install this project with `pip install .` and `pip install -e .` in the
# current (tox) virtualenv, with nova installed regularly and then editable
# (as devstack does); after each, load the driver through nova's own
# loader; after each uninstall, check nova's files are byte-for-byte intact.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
nova_version=$(python -c 'import importlib.metadata as m; print(m.version("nova"))')
editable_nova=""
restore_nova() {  # an editable nova in $work would not survive the rm
  if [ -n "$editable_nova" ]; then
    python -m pip install -q --no-deps --no-compile --force-reinstall \
      "nova==$nova_version"
    editable_nova=""
  fi
}
trap 'restore_nova || true; rm -rf "$work"' EXIT

nova_digest() {
  (cd "$work" && python - <<'PY'
import hashlib, os, nova
root = os.path.dirname(nova.__file__)
h = hashlib.sha256()
for d, dirs, files in sorted(os.walk(root)):
    dirs[:] = sorted(x for x in dirs if x != '__pycache__')
    rel = os.path.relpath(d, root)
    for f in sorted(files):
        h.update(os.path.join(rel, f).encode())
        with open(os.path.join(d, f), 'rb') as fh:
            h.update(fh.read())
print(h.hexdigest())
PY
  )
}

load_driver() {
  (cd "$work" && python - <<'PY'
import sys
from nova.virt import driver
import nova.virt.fake  # nova itself must still be importable
drv = driver.load_compute_driver(None, 'powervm.PowerVMDriver')
assert isinstance(drv, driver.ComputeDriver), type(drv)
print('loaded %s.%s' % (type(drv).__module__, type(drv).__name__))
PY
  )
}

ships_nothing_in_nova() {  # the installed RECORD has no file under nova/
  (cd "$work" && python - "$1" <<'PY'
import importlib.metadata as m, sys
bad = [str(f) for f in m.files('nova-powervm') or ()
       if str(f).replace('\\', '/').startswith('nova/')]
sys.exit('FAIL: pip install (%s) ships %s' % (sys.argv[1], bad) if bad else 0)
PY
  )
}

check_nova_intact() {
  local now
  now=$(nova_digest)
  if [ "$now" != "$before" ]; then
    echo "FAIL: nova's files changed ($1)" >&2
    exit 1
  fi
  # One interpreter: nova imports, and nova.virt.powervm no longer does.
  (cd "$work" && python - "$1" <<'PY'
import sys
try:
    import nova.virt.driver
    import nova.virt.fake  # noqa: F401
except Exception as e:
    sys.exit('FAIL: nova no longer imports (%s): %r' % (sys.argv[1], e))
try:
    import nova.virt.powervm  # noqa: F401
except ImportError:
    pass
else:
    sys.exit('FAIL: nova.virt.powervm still importable after uninstall '
             '(%s)' % sys.argv[1])
PY
  ) || exit 1
  echo "ok: nova intact after $1"
}

run_modes() {
  # $1: how nova itself is installed (regular or editable)
  before=$(nova_digest)
  rm -rf "$here/build" "$here"/*.egg-info
  for mode in regular editable; do
    if [ "$mode" = editable ]; then
      python -m pip install -q --no-deps -e "$here"
    else
      python -m pip install -q --no-deps "$here"
    fi
    echo "== nova $1, pip install ($mode)"
    ships_nothing_in_nova "$mode"
    load_driver
    python -m pip uninstall -q -y nova-powervm
    check_nova_intact "uninstall of the $mode install (nova $1)"
    rm -rf "$here/build" "$here"/*.egg-info
    passed=$((passed + 1))
  done
}

passed=0
run_modes regular

# devstack installs nova editable (pip install -e <nova checkout>): repeat
# both modes against an editable nova made from nova's own sdist, then put
# the regular nova back.  nova's own build (its metadata for the download,
# its editable install) uses the setuptools and pbr already here: what is
# checked is this project's install, which keeps pip's build isolation.
python -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
  -d "$work/src" "nova==$nova_version"
tar -xzf "$work/src/nova-$nova_version.tar.gz" -C "$work/src"
editable_nova=1
python -m pip install -q --no-deps --no-build-isolation \
  -e "$work/src/nova-$nova_version"
(cd "$work" && python -c 'import nova, sys; sys.exit(
    0 if nova.__file__.startswith(sys.argv[1]) else 1)' "$work/src") || {
  echo "FAIL: nova is not the editable checkout" >&2; exit 1; }
run_modes editable
restore_nova
echo "install modes: $passed passed, 0 failed"
