"""Hypothesis profiles: ``dev`` (the default here), ``thorough`` (long runs), ``mutate`` (for
``just mutate``), and Hypothesis's built-in ``ci``, which loads by itself when the ``CI`` variable
is set.

``mutate`` is derandomized and keeps no example database, so every mutant meets the same examples
and a mutation run scores the same every time; it tries fewer of them, as each mutant of a function
reruns every property that reaches it.

Choose one with ``HYPOTHESIS_PROFILE=thorough just prop``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("thorough", max_examples=3000, stateful_step_count=150, deadline=None)
settings.register_profile("mutate", max_examples=50, deadline=None, derandomize=True, database=None)

_chosen = os.environ.get("HYPOTHESIS_PROFILE")
if _chosen:
    settings.load_profile(_chosen)
elif settings.get_current_profile_name() != "ci":
    settings.load_profile("dev")
