"""`python -m eval`: the answer-quality evaluation, as `papers eval` runs it."""

from eval.cli import main

raise SystemExit(main())
