"""``python -m linmeta``: the command line (:mod:`linmeta.cli`)."""
import sys

from linmeta.cli import main

if __name__ == "__main__":
    sys.exit(main())
