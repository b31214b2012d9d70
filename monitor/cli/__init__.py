"""kapmon subcommands, one module each (see ``monitor.cli.main``)."""
