"""``python -m bgpoison`` is the ``bgpoison`` command (see ``bgpoison.cli``)."""
import sys

from .cli import main

sys.exit(main())
