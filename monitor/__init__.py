"""The monitor core, one subpackage per job: ``rules``, ``session``, ``analysis``, ``exports``, ``training``,
``central``, ``auth`` and the command line ``cli`` (the only one that imports ``layouts``)."""
