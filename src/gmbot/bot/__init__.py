"""aiogram side: thin routers that translate updates into service calls."""
