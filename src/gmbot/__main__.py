from gmbot.cli import main

raise SystemExit(main())
