"""Device adapters: readings, decoders, transports, the simulator and replay. Imports nothing from
``monitor`` or ``layouts``."""

from devices.reading import CONDITIONS, NO_VALUE, OK, VITALS, Condition, Item, Reading

__all__ = ["CONDITIONS", "NO_VALUE", "OK", "VITALS", "Condition", "Item", "Reading"]
