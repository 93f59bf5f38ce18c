"""A worker module that calls ``sys.exit`` at import time (used by the containment tests)."""

import sys

sys.exit("this module exits on import")
