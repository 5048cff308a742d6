"""GMBot: gate a Telegram group on channel membership."""

__version__ = "2.0.0"
