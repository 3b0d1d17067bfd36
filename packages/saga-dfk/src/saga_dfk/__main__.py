"""``python -m saga_dfk`` runs the ``saga-dfk`` CLI."""

from saga_dfk._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
