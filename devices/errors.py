"""The exceptions devices raise. Everything derives from ``DeviceError``."""


class DeviceError(Exception):
    """Root of every error raised by ``devices``."""


class DecodeError(DeviceError):
    """Bytes or text that do not decode as the named format; the message says why."""


class URIError(DeviceError):
    """A device URI that cannot be understood."""


class RecordingError(DeviceError):
    """A recording file that cannot be read; the message names the file, line and column."""
