"""`python -m gmbot.demo`: the offline demo (see gmbot.demo)."""

from gmbot.demo import main

raise SystemExit(main())
