"""The `sotriage` command line: one module per command."""
