"""Device adapters: readings, decoders, transports, the simulator and replay. Imports nothing from
``monitor`` or ``layouts``."""

from devices.reading import Condition, Item, Reading
from devices.vocabulary import CONDITIONS, NO_VALUE, OK, VITALS

__all__ = ["CONDITIONS", "NO_VALUE", "OK", "VITALS", "Condition", "Item", "Reading"]
