"""Adapters to the Telegram Bot API (aiogram)."""
