"""`python -m tui`: the chat app, as `papers chat` runs it."""

from tui.app import main

raise SystemExit(main())
