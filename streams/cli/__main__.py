"""``python -m streams.cli``: the ``wirewatch`` command."""

from streams.cli.main import main

main()
