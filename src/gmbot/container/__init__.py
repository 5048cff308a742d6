"""Everything is built here from Settings, at start-up, and nothing at import time.

Application holds three sub-containers: Gateways (PostgreSQL, Redis, the Bot API,
time), ServiceLayer (the services, over the gateways' ports) and Delivery (how
updates reach them). Tests override Gateways, or single providers of it, with fakes.
"""

from gmbot.container.application import Application, build_container

__all__ = ["Application", "build_container"]
