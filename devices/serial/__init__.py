"""Serial devices: streaming decoders, the pyserial transport and virtual devices."""
