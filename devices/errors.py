"""The root of kapmon's exceptions and the ones devices raise.

Every exception kapmon defines derives from ``KapmonError``, so a caller can catch all of kapmon's own
failures at once; one that callers also catch as ``ValueError`` (bad input) or ``LookupError`` keeps that
base beside it."""


class KapmonError(Exception):
    """Root of every error kapmon raises on purpose."""


class DeviceError(KapmonError):
    """Root of every error raised by ``devices``."""


class DecodeError(DeviceError):
    """Bytes or text that do not decode as the named format; the message says why."""


class URIError(DeviceError):
    """A device URI that cannot be understood."""


class RecordingError(DeviceError):
    """A recording file that cannot be read; the message names the file, line and column."""
