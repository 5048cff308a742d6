"""The fault suite (`make test-faults`): GMBot's instances under injected faults.

The suite starts everything it breaks: its own Redis and PostgreSQL on free ports in temp
dirs (never the machine's 5432 / 6379), three webhook instances behind nginx, and the Bot
API emulator delivering as Telegram does (one update in flight per chat, in order, retried
until answered 2xx). Each instance reaches the emulator through its own recording proxy,
so every Bot API call is attributed to the process that made it.

Scenarios (one test each): Redis stopped mid-stream and restarted empty; PostgreSQL
stopped for seconds; Telegram answering 500, answering 429, and hanging past the gateway's
call timeout, for a window; a rolling restart; an instance SIGSTOPped past its leases and
resumed; a barrage of malformed and slowloris requests. Every scenario asserts, from the
call log (scenario.py): every update acknowledged; every gated message deleted exactly
once; every gated member muted once and unmuted after joining the channel; no member or
member's message touched; no state-changing call by a process that no longer owned the
work; every instance healthy and ready; resident memory flat.

Resident memory: a process that lived through a scenario may grow by RSS_TOLERANCE_KIB
(10 MiB) at most. Calibration runs grew by 0.1-1 MiB per scenario, and by up to 4 MiB on
the instance taking the bad-input barrage (allocator arenas and aiohttp buffers kept for
reuse); keeping what that barrage sent it (six oversized bodies read up to the 1 MiB limit,
six deeply nested JSON bodies of 200-600 kB, 120 slow connections' buffers) would exceed 10 MiB.

The per-scenario report (updates, delivery attempts, calls by method and outcome, recovery
time, RSS) is printed at the end and written to build/faults-report.md; every scenario's
call and delivery timeline goes to build/faults-timelines/<scenario>.txt.
"""
