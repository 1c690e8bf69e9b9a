"""NVRAM store in local files: ``<nvram_local_path>/<instance uuid>.nvram``.

Needs no service; only this host sees the files, so it serves a rebuild on
the same host, not an evacuation or a migration.
"""
import os
import tempfile

from nova_powervm.virt.powervm.nvram import base

_SUFFIX = '.nvram'


class LocalNvramStore(base.NvramStore):
    """One file per instance, written atomically, mode 0600."""

    def __init__(self, path):
        self.path = path

    def _file(self, key):
        return os.path.join(self.path, base.check_key(key) + _SUFFIX)

    def store(self, key, data):
        target = self._file(key)
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix='.nvram-')
        try:
            with os.fdopen(fd, 'w', encoding='ascii') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def fetch(self, key):
        try:
            with open(self._file(key), encoding='ascii') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def delete(self, key):
        try:
            os.unlink(self._file(key))
        except FileNotFoundError:
            pass
