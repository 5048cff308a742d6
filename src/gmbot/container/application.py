"""The composition root: one container for the bot and every CLI command."""

from __future__ import annotations

from dependency_injector import containers, providers

from gmbot.config import Settings
from gmbot.container.delivery import Delivery
from gmbot.container.gateways import Gateways
from gmbot.container.resources import Pools
from gmbot.container.services import ServiceLayer
from gmbot.metrics import Metrics


class Application(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    pools = providers.Dependency(instance_of=Pools)
    metrics = providers.Singleton(Metrics, instance_id=settings.provided.instance_id)

    gateways = providers.Container(Gateways, settings=settings, pools=pools, metrics=metrics)
    services = providers.Container(
        ServiceLayer, settings=settings, metrics=metrics, gateways=gateways
    )
    delivery = providers.Container(
        Delivery, settings=settings, metrics=metrics, gateways=gateways, services=services
    )


def build_container(settings: Settings, *, command: str | None = None) -> Application:
    """The container of a running instance, or of the one-off `command` (`gmbot migrate`,
    `check`, ...), which holds a connection or two named after it."""
    pools = Pools.for_instance(settings) if command is None else Pools.for_command(command)
    return Application(settings=settings, pools=pools)
