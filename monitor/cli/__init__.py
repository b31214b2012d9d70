"""The ``kapmon`` command line: ``main`` parses the command and runs its module, one per subcommand.
The only package that imports ``layouts``."""
