"""``python -m atomnet`` runs the command line."""

import sys

from atomnet.cli import main

sys.exit(main())
