"""Shared pytest settings for the tests and the doctests of every package: a hypothesis profile that keeps
the default run fast and deterministic, and one torch thread per worker."""

import os

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
torch.set_num_threads(1)  # tests run in parallel workers; one thread each avoids oversubscription
