"""The test project's settings with rescue after 1 s, for worker subprocesses that rescue."""

from testproject.settings import *
from testproject.settings import OBAN

OBAN = {**OBAN, "RESCUE_AFTER": 1, "HEARTBEAT_INTERVAL": 0.2}
