"""``python -m bert2sk`` runs the command line."""

from .cli import main

main()
