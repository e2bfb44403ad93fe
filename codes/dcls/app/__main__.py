"""``python -m dcls.app``: the same as ``dcls-app``."""

import sys

from dcls.app.cli import main

sys.exit(main())
