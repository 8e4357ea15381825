"""``python -m bench``: run the benchmarks (see ``bench/cli.py``)."""

from bench.cli import main

raise SystemExit(main())
