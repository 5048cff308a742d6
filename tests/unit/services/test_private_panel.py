"""The private panel's own callback data, decoded defensively (the flows themselves
run end to end in tests/e2e/test_private_panel.py)."""

from __future__ import annotations

import pytest

from gmbot.services.group_settings import SETTINGS
from gmbot.services.settings_panel import MAX_DATA, Decoded, decode, encode

CHAT = -1009999999999999  # -100 and 13 digits: the longest chat id
TEXT_ONLY = [i for i, s in enumerate(SETTINGS) if not s.choices]
CHOICES = [i for i, s in enumerate(SETTINGS) if s.choices]


@pytest.mark.parametrize("page", ["c", "ca", "e", "ea", "n"])
def test_plain_pages_round_trip(page: str) -> None:
    assert decode(encode(CHAT, page)) == Decoded(CHAT, page)


@pytest.mark.parametrize(("page", "target"), [("cr", CHAT), ("cy", CHAT), ("er", 2**52)])
def test_id_pages_round_trip_within_the_limit(page: str, target: int) -> None:
    data = encode(CHAT, page, target)
    assert len(data.encode()) <= MAX_DATA
    assert decode(data) == Decoded(CHAT, page, target=target)


def test_only_free_text_settings_have_an_edit_page() -> None:
    for i in TEXT_ONLY:
        assert decode(encode(CHAT, "t", i)) == Decoded(CHAT, "t", i)
    for i in CHOICES:
        assert decode(encode(CHAT, "t", i)) is None


@pytest.mark.parametrize(
    "data",
    [
        f"gms:{CHAT}:c:1",
        f"gms:{CHAT}:ca:0",
        f"gms:{CHAT}:cr",
        f"gms:{CHAT}:cr:",
        f"gms:{CHAT}:cr:abc",
        f"gms:{CHAT}:cr:1:2",
        f"gms:{CHAT}:cy:--1",
        f"gms:{CHAT}:cy:-0100",
        f"gms:{CHAT}:er:-5",
        f"gms:{CHAT}:er:0",
        f"gms:{CHAT}:er:１２",
        f"gms:{CHAT}:er:" + "9" * 17,
        f"gms:{CHAT}:t",
        f"gms:{CHAT}:t:999",
        f"gms:{CHAT}:n:0",
        f"gms:{CHAT}:zz",
    ],
)
def test_malformed_private_data_is_none(data: str) -> None:
    assert decode(data) is None
