"""``python -m bgpoison`` is the ``bgpoison`` command (see ``bgpoison.experiments.cli``)."""
import sys

from .experiments.cli import main

sys.exit(main())
