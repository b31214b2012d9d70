"""Decode formats offered by this family of devices (filled in by its decoders)."""

from devices.formats import DecodeFormat

FORMATS: dict[str, DecodeFormat] = {}
