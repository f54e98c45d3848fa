"""`python -m dynadrop` runs the command line."""

import sys

from dynadrop.cli.main import main

sys.exit(main())
