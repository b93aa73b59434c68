"""`python3 -m anvil [options] MODULE:CALLABLE`: see anvil.cli."""

import sys

from anvil.cli import main

if __name__ == "__main__":
    sys.exit(main())
