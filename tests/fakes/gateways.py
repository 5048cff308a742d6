"""The fakes of every gateway the services use, as a container that overrides
gmbot.container's Gateways: `container.gateways.override(FakeGateways(settings=...))`.

Provider names are Gateways' own. One FakeClock is the time of all of them: it is
`wall_seconds` (FakeClock() is epoch seconds), and `clock` reads it as a datetime.
"""

from __future__ import annotations

from operator import attrgetter

from dependency_injector import containers, providers

from gmbot.config import Settings
from tests.fakes.clock import FakeClock
from tests.fakes.counting_uow import CountingUnitOfWorkFactory
from tests.fakes.gate_cache import InMemoryGateCache
from tests.fakes.job_lock import InMemoryJobLock
from tests.fakes.membership_cache import InMemoryMembershipCache
from tests.fakes.menu_store import InMemoryMenuStore
from tests.fakes.outbox import InMemoryOutbox
from tests.fakes.pending_inputs import InMemoryPendingInputs
from tests.fakes.prompt_store import InMemoryPromptStore
from tests.fakes.raid_watch import InMemoryRaidWatch
from tests.fakes.telegram_gateway import FakeTelegramGateway
from tests.fakes.throttle import InMemoryThrottle
from tests.fakes.warnings import InMemoryWarningStore


class FakeGateways(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    wall_seconds = providers.Singleton(FakeClock)
    clock = providers.Callable(attrgetter("utc"), wall_seconds)

    uow = providers.Singleton(CountingUnitOfWorkFactory)
    telegram = providers.Singleton(FakeTelegramGateway)
    # No jitter: a test can tell exactly when an entry expires.
    membership_cache = providers.Singleton(
        InMemoryMembershipCache,
        wall_seconds,
        ttl=settings.provided.verify_cache_ttl,
        negative_ttl=settings.provided.negative_cache_ttl,
    )
    gate_cache = providers.Singleton(InMemoryGateCache, membership_cache, wall_seconds)
    throttle = providers.Singleton(InMemoryThrottle, wall_seconds)
    prompts = providers.Singleton(InMemoryPromptStore, wall_seconds)
    outbox = providers.Singleton(
        InMemoryOutbox, wall_seconds, claim_after=settings.provided.outbox_claim_after
    )
    raid_watch = providers.Singleton(InMemoryRaidWatch, wall_seconds)
    job_lock = providers.Singleton(InMemoryJobLock, wall_seconds)
    menu_store = providers.Singleton(InMemoryMenuStore)
    pending_inputs = providers.Singleton(InMemoryPendingInputs, wall_seconds)
    warnings = providers.Singleton(InMemoryWarningStore, wall_seconds)
