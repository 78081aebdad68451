"""python -m collective.recipe.clockserver.runner CONFIG COMMAND ..."""

import sys

from . import main

sys.exit(main(sys.argv[1], sys.argv[2:]))
