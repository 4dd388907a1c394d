"""The ``openvpp`` command line (Typer). Commands only call services."""
