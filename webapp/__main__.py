"""`python -m webapp` is the same as the `webapp` script."""

import sys

from webapp.cli import main

sys.exit(main())
