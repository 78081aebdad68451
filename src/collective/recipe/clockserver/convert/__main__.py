"""python3 -m collective.recipe.clockserver.convert FILE..."""

import sys

from . import main

sys.exit(main())
