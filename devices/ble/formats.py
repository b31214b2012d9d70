"""Decode formats offered by the BLE decoders (``kapmon decode ble-hr 1E5532002100``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from devices.ble.blood_pressure import decode_bp, decode_icp
from devices.ble.heart_rate import decode_hr
from devices.ble.pulse_oximetry import PlxFeatures, decode_plx_cont, decode_plx_features, decode_plx_spot
from devices.decoding import Decoded, DecodeFormat


def _hex(decode: Callable[[bytes], Sequence[Decoded]]) -> Callable[[bytes | str], Sequence[Decoded]]:
    """``decode`` for a hex format: its input is parsed to bytes (text, if given, is taken as latin-1)."""
    return lambda data: decode(data.encode("latin-1") if isinstance(data, str) else data)


def _features(data: bytes) -> list[PlxFeatures]:
    """PLX Features as one printable record (it holds capabilities, not readings)."""
    return [decode_plx_features(data)]


FORMATS: dict[str, DecodeFormat] = {
    f.name: f
    for f in (
        DecodeFormat("ble-hr", "hex", "Heart Rate Measurement 0x2A37", _hex(decode_hr)),
        DecodeFormat("ble-bp", "hex", "Blood Pressure Measurement 0x2A35", _hex(decode_bp)),
        DecodeFormat("ble-icp", "hex", "Intermediate Cuff Pressure 0x2A36", _hex(decode_icp)),
        DecodeFormat("ble-plx-spot", "hex", "PLX Spot-check Measurement 0x2A5E", _hex(decode_plx_spot)),
        DecodeFormat("ble-plx-cont", "hex", "PLX Continuous Measurement 0x2A5F", _hex(decode_plx_cont)),
        DecodeFormat("ble-plx-features", "hex", "PLX Features 0x2A60 (what the oximeter supports)", _hex(_features)),
    )
}
