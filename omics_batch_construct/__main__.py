"""``python -m omics_batch_construct``: the ``omics-batch`` CLI, for when no script is on PATH."""

from omics_batch_construct.cli import main

raise SystemExit(main())
