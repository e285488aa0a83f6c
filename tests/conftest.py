"""Hypothesis profile for the whole suite: no deadlines (timing is the benchmark's job)."""
from hypothesis import settings

settings.register_profile("bgpoison", deadline=None, max_examples=30, derandomize=True,
                          print_blob=True)
settings.load_profile("bgpoison")
