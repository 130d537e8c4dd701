"""``python -m contacthub.cli``, as the single-module cli.py allowed; ``python -m contacthub``
is the usual way."""

from contacthub.cli import main

main()
