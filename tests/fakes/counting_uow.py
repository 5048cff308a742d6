"""An in-memory UnitOfWorkFactory that counts what it opens."""

from __future__ import annotations

from tests.fakes.repositories import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory


class CountingUnitOfWorkFactory(InMemoryUnitOfWorkFactory):
    """Counts the units of work opened, so a test can assert "no database access"."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    def __call__(self) -> InMemoryUnitOfWork:
        self.opened += 1
        return super().__call__()
