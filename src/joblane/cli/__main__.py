import sys

from joblane.cli import main

sys.exit(main())
