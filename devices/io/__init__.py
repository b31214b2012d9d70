"""Recording files: the CSV + JSON sidecar recording format that imports, exports and replays share."""
