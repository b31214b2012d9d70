"""Wire formats that ``kapmon decode`` understands, gathered from the BLE, serial and HL7 decoders."""

from __future__ import annotations

from devices.decoding import DecodeFormat


def all_formats() -> dict[str, DecodeFormat]:
    """Every format, by name."""
    from devices.ble.formats import FORMATS as ble
    from devices.ble.wellue import FORMATS as wellue
    from devices.hl7.formats import FORMATS as hl7
    from devices.serial.formats import FORMATS as serial

    return {**ble, **wellue, **serial, **hl7}
