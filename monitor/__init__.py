"""The monitor core: sessions, the store, the hub, protocols and alarms, exports and the CLI."""
