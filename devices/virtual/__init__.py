"""Devices without hardware: the simulator and its scenarios, perturbations, replay of recordings, and
emulated serial and BLE devices."""
