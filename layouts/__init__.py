"""Dash pages and components. Reads from ``monitor``; never talks to devices."""
