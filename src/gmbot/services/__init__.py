"""Use cases. They speak to ports only: no aiogram types, no SQL sessions, no Redis."""
