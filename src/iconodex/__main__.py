"""``python -m iconodex``."""

from .cli import main

main()
