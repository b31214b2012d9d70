"""Training scenarios as TOML files (see ``monitor.training.library``)."""
