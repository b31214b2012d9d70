"""Protocol files shipped with kapmon (package data)."""
