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


def located(path: str, line: int | None, field: str, reason: str) -> str:
    """The one style every configuration error reads in: ``<file>:<line>: <field.path>: <what is wrong>``
    (``<file>: <field.path>: ...`` when no line is known)."""
    head = f"{path}:{line}" if line else path
    return f"{head}: {field}: {reason}" if field else f"{head}: {reason}"


class ConfigError(KapmonError, ValueError):
    """A configuration file or answer set that cannot be used (a protocol, screening answers, a training
    scenario, a recording's sidecar), located by file, line (None when unknown) and field."""

    def __init__(self, path: str, line: int | None, field: str, reason: str) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, reason
        super().__init__(located(path, line, field, reason))

    def __reduce__(self):  # keep the four parts when pickled (the message alone cannot rebuild them)
        return (type(self), (self.path, self.line, self.field, self.reason))


class SidecarError(RecordingError, ConfigError):
    """A recording's JSON sidecar that cannot be used (caught as a ``RecordingError`` too)."""
