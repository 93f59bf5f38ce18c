"""Side-by-side benchmarks of django-oban and its peers: ``python benchmarks/run.py --help``."""
