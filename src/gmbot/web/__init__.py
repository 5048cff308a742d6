"""The aiohttp side: webhook endpoint, health, readiness and metrics."""
