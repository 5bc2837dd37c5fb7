"""``python -m omics_batch_cli``: the ``omics-batch`` command, for when no script is on PATH."""

from omics_batch_cli.main import main

raise SystemExit(main())
