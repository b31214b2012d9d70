"""HL7 v2 monitors (IHE PCD-01 results, PCD-04 alarms): pure decoder and encoder, MLLP framing, the
listening source (``hl7://``) and the emulated monitor behind ``kapmon emulate hl7-monitor``."""
