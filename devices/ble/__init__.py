"""Bluetooth LE devices: GATT decoders and the bleak transport."""
