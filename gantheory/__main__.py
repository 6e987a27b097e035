"""``python -m gantheory`` runs the command line (see :mod:`gantheory.cli`)."""

from gantheory.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
