"""nvnb's benchmarks: every figure measured side by side, in one run, against the local server.

Run ``python -m bench`` (or ``bench/run``) from the repository root; ``--quick`` for a smoke run,
``--only SECTION`` for one section. See ``bench/RESULTS.md`` for the last full run.
"""
