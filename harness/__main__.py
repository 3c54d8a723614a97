"""Entry point for ``python -m harness``."""

from harness.cli.main import main

raise SystemExit(main())
