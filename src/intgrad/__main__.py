"""``python -m intgrad`` runs the command-line tool."""

import sys

from intgrad.cli import main

sys.exit(main())
