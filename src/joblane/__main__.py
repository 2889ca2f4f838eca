"""``python -m joblane``: the CLI."""

import sys

from joblane.cli import main

sys.exit(main())
