"""``python -m nvnb`` is the ``nvnb`` command."""

from nvnb.cli import main

raise SystemExit(main())
