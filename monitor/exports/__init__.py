"""Exports of a recorded session, one module per format; ``writer.export`` picks one by name."""
