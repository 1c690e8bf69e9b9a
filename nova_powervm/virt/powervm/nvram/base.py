"""The interface of an NVRAM store (one object per instance UUID)."""
import abc
import re

_KEY_RE = re.compile(r'^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$')


def check_key(key):
    """The instance UUID ``key``; ValueError for anything else."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError('NVRAM store keys are instance UUIDs, not %r' % key)
    return key.lower()


class NvramStore(metaclass=abc.ABCMeta):
    """Keeps each instance's NVRAM (the REST API's base64 text).

    Methods raise on failure (the manager logs and retries).
    """

    @abc.abstractmethod
    def store(self, key, data):
        """Save ``data`` (str) for instance ``key``, replacing any."""

    @abc.abstractmethod
    def fetch(self, key):
        """The saved NVRAM of instance ``key``, or None."""

    @abc.abstractmethod
    def delete(self, key):
        """Forget instance ``key``'s NVRAM (none saved is fine)."""
