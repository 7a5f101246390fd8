"""Benchmarks: ``python -m tests.benchmarks`` (``just bench``). Not collected by pytest."""
