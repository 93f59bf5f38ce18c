"""A worker module that fails at import time (used by the containment tests)."""

raise ZeroDivisionError("this module cannot be imported")
