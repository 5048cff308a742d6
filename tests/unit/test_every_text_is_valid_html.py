"""Every text the bot sends with parse_mode HTML is markup Telegram accepts, and every
inline button's callback data fits Telegram's limits, whatever names and titles it is
rendered with.

The texts are enumerated, not listed: every public function and text constant of the
modules that word the bot's messages (a function added later is called too, with
arguments built from its type hints, so it needs no test of its own), the settings
panel's every page for every setting, the /settings command's reply to a bad value of
every setting in the registry (through the router's own code), and every literal text
the routers and services hand to Telegram. The arguments are hostile (names and titles
such as ``<b>&"``, ``<duration>``, long ones) and the extreme ids Telegram uses.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import importlib
import inspect
import itertools
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from gmbot.domain.models import AuditKind, GroupSettings
from gmbot.domain.telegram import Button
from gmbot.domain.telegram_html import callback_data_problem, html_problem
from gmbot.services import group_settings
from gmbot.services.group_settings import SETTINGS, SettingsError

SRC = Path(__file__).resolve().parents[2] / "src"

# The modules that word the bot's messages. A module that does not exist (yet) is left
# out; every other one must import.
TEXT_MODULES = (
    "gmbot.bot.render",
    "gmbot.bot.refusals",
    "gmbot.bot.routers.callbacks",
    "gmbot.services.texts",
    "gmbot.services.prompt_template",
    "gmbot.services.settings_panel",
    "gmbot.services.private_panel",
)
# Public functions whose result is NOT sent as HTML: what it is, and so what is checked.
# "plain": plain text the caller escapes; "alert": a callback answer (plain, 0-200
# characters); "label": a button's text; "value": not a message text (not called).
NOT_HTML: dict[str, str] = {
    "gmbot.bot.render.settings_usage": "plain",
    "gmbot.bot.routers.callbacks.not_joined_text": "alert",
    "gmbot.services.texts.channel_names": "plain",
    "gmbot.services.texts.join_button_label": "label",
    "gmbot.services.prompt_template.joined_label": "label",
    "gmbot.services.prompt_template.check_label": "value",
    "gmbot.services.prompt_template.check_template": "value",
    "gmbot.services.settings_panel.encode": "value",
    "gmbot.services.settings_panel.deep_link": "value",
    # Parts of a message (HTML, which may be empty): the message is checked as a whole too.
    "gmbot.bot.render.rights": "fragment",
    "gmbot.services.texts.mention": "fragment",
    "gmbot.services.texts.channel_list": "fragment",
    "gmbot.services.texts.human_duration": "fragment",
    "gmbot.services.texts.join_what": "fragment",
    "gmbot.services.texts.timeout_sentence": "fragment",
    "gmbot.services.texts.prompt_facts": "fragment",
}
# Known problems, reported to the owners of the code: the test expects them to fail
# (strictly: once fixed, the entry must go).
KNOWN: dict[str, str] = {}
# Constants that are not message texts (callback prefixes and such are checked anyway:
# they are harmless as HTML).
ALERT_CONSTANTS = {"gmbot.services.settings_panel.EXPIRED", "gmbot.services.settings_panel.REFUSED"}
ALERT_MAX = 200  # answerCallbackQuery: 0-200 characters

HOSTILE = "<b>&\"'</b> <duration> &amp; &lt;i&gt; {mention}"
LONG = ("W" * 60 + '<i>&"') * 2  # longer than any name or title Telegram allows
TEMPLATE = "Hi {mention} ({name}): join {channels} to write in <b>{group}</b>; {timeout}."
# Markup-heavy: long as typed, short once parsed (what a template check may accept).
TAGGY = "<b><i>{name}</i></b> " * 300
HUGE_ID = -1001234567890123  # the longest chat id plausible (Telegram: up to 52 bits)
STRINGS: tuple[Any, ...] = (HOSTILE, LONG, "", TEMPLATE)
INTS: tuple[Any, ...] = (2, 1, HUGE_ID, 2**52, 999 * 86400 + 1, 0)
FLOATS: tuple[Any, ...] = (59.0, 0.0, 86400.0 * 3)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
RIGHTS = ("can_delete_messages", "can_restrict_members", "can_invite_users")
# Values by parameter or field name where the type says too little: what Telegram
# itself guarantees (usernames are [A-Za-z0-9_]) or the bot's own words.
BY_NAME: dict[str, tuple[Any, ...]] = {
    "bot_username": ("gm_bot", "g" * 32),
    "username": (None, "chan_1", "c" * 32),
    "invite_link": (None, "https://t.me/+AbC-dEf_123"),
    "warning": (None, (1, 3), (3, 3), (99, 100)),
    "missing_rights": ((), RIGHTS),
    "missing": ((), RIGHTS),  # texts.rights_* take right names; other "missing" are typed
    "names": ((), RIGHTS),
    "audit_by_kind": ({}, {k.value: 3 for k in AuditKind}),
    "prompt_text": (None, TEMPLATE, HOSTILE, TAGGY, LONG),
    # Labels as saved (plain text, 1-64 characters); None: the default.
    "joined_label": (None, "✅ I've joined", "&\"'<b>", "L" * 64),
    "join_label": (None, "Join {channel}", 'Join &"<b>', "J" * 64),
    "prefix": ("gmv", "gmp"),
    "index": tuple(range(len(SETTINGS))),  # a setting of the registry
    "head": ("", "<b>Saved.</b> &lt;ok&gt;"),  # HTML the caller put above a page
}


def _type_samples() -> dict[Any, list[Any]]:
    return {group_settings.SettingSpec: list(SETTINGS)}


MAX_CALLS = 20000  # per function: a guard against an explosion of combinations


class NoSamples(TypeError):
    pass


def _is_str_seq(tp: Any) -> bool:
    return typing.get_origin(tp) in (tuple, list, Iterable, Sequence) and typing.get_args(tp)[
        :1
    ] == (str,)


def samples(tp: Any, name: str = "", *, pairwise: bool = False) -> list[Any]:
    """Values of type `tp`, the first the most ordinary one."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if name in BY_NAME and origin is not Callable and (name != "missing" or _is_str_seq(tp)):
        admits_none = tp is type(None) or type(None) in args
        return [v for v in BY_NAME[name] if v is not None or admits_none]
    if tp in _type_samples():
        return _type_samples()[tp]
    if tp is str:
        return list(STRINGS)
    if tp is bool:
        return [False, True]
    if tp is int:
        return list(INTS)
    if tp is float:
        return list(FLOATS)
    if tp is datetime:
        return [NOW]
    if tp is type(None):
        return [None]
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in sorted(args, key=lambda a: a is type(None)):
            out.extend(samples(arg, name))
        return out
    if isinstance(tp, type) and issubclass(tp, Enum):
        return list(tp)
    if origin in (list, Iterable, Sequence) or (origin is tuple and args[-1:] == (Ellipsis,)):
        elements = samples(args[0], name)
        seqs = [(), (elements[0],), tuple(elements)]
        return [list(s) for s in seqs] if origin is not tuple else seqs
    if origin is tuple:
        per = [samples(a, name) for a in args]
        return [tuple(p[i % len(p)] for p in per) for i in range(max(map(len, per)))]
    if origin is dict:
        return [{}, {samples(args[0])[0]: samples(args[1])[0]}]
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return dataclass_values(tp, pairwise=pairwise)
    raise NoSamples(f"no sample values for {tp!r} (parameter or field {name!r})")


def _combinations(
    base: dict[str, Any], choices: dict[str, list[Any]], pairwise: bool
) -> Iterator[dict[str, Any]]:
    """The base, then each value changed alone, then (pairwise) each two changed."""
    yield dict(base)
    keys = list(choices)
    for key in keys:
        for value in choices[key]:
            if value is not base[key]:
                yield base | {key: value}
    if pairwise:
        for a, b in itertools.combinations(keys, 2):
            for va, vb in itertools.product(choices[a], choices[b]):
                if va is not base[a] and vb is not base[b]:
                    yield base | {a: va, b: vb}


def dataclass_values(cls: type, *, pairwise: bool = False) -> list[Any]:
    hints = typing.get_type_hints(cls)
    base: dict[str, Any] = {}
    choices: dict[str, list[Any]] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        choices[f.name] = samples(hints[f.name], f.name)
        if f.default is not dataclasses.MISSING:
            base[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            base[f.name] = f.default_factory()
        else:
            base[f.name] = choices[f.name][0]
    return [cls(**kw) for kw in _combinations(base, choices, pairwise)]


def calls(func: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """Keyword arguments for `func`: defaults and samples, one and two changed at a time."""
    sig = inspect.signature(func)
    hints = typing.get_type_hints(func)
    params = [
        p
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    single = len(params) == 1
    base: dict[str, Any] = {}
    choices: dict[str, list[Any]] = {}
    for p in params:
        try:
            values = samples(hints[p.name], p.name, pairwise=single)
        except NoSamples:
            if p.default is inspect.Parameter.empty:
                raise
            values = []  # a callable with a default: the default only
        base[p.name] = values[0] if p.default is inspect.Parameter.empty else p.default
        if p.default is inspect.Parameter.empty or values:
            choices[p.name] = values
    yield from itertools.islice(_combinations(base, choices, not single), MAX_CALLS)


# ---- checking what a function returned


def keyboard_problems(keyboard: Any) -> list[str]:
    found = []
    for row in keyboard:
        for button in row:
            assert isinstance(button, Button), button
            if not button.text.strip():
                found.append("a button with an empty text")
            if button.callback_data is not None:
                problem = callback_data_problem(button.callback_data)
                if problem:
                    found.append(f"{problem}: {button.callback_data!r}")
    return found


def result_problems(kind: str, result: Any) -> list[str]:
    if result is None:
        return []
    if isinstance(result, list) and result and all(isinstance(line, str) for line in result):
        result = "\n".join(result)  # lines of a message
    if isinstance(result, str):
        if kind == "html":
            problem = html_problem(result)
            return [problem] if problem else []
        if kind == "fragment":
            problem = html_problem(result + ".")  # empty alone, but not in its message
            return [problem] if problem else []
        if kind == "alert" and len(result) > ALERT_MAX:
            return [f"an alert of {len(result)} characters, over {ALERT_MAX}"]
        if kind == "plain":
            problem = html_problem(html.escape(result, quote=False) + ".")
            return [f"escaped: {problem}"] if problem else []
        return []
    if hasattr(result, "text") and hasattr(result, "keyboard"):  # a Panel
        return result_problems("html", result.text) + keyboard_problems(result.keyboard)
    if isinstance(result, list) and all(isinstance(row, list) for row in result):
        return keyboard_problems(result)
    return []


def _short(kwargs: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return text if len(text) < 300 else text[:300] + "…"


def _text_modules() -> list[ModuleType]:
    modules = []
    for name in TEXT_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        modules.append(importlib.import_module(name))
    return modules


def _functions(module: ModuleType) -> list[Callable[..., Any]]:
    return [
        obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj)
        and not name.startswith("_")
        and obj.__module__ == module.__name__
        and not inspect.iscoroutinefunction(obj)
    ]


def _rendering_methods(module: ModuleType) -> list[Callable[..., Any]]:
    """The public synchronous methods of the module's classes that return a text or a
    panel, bound to an instance made without its collaborators (rendering needs none)."""
    found = []
    for cls in vars(module).values():
        if not inspect.isclass(cls) or cls.__module__ != module.__name__:
            continue
        if dataclasses.is_dataclass(cls) or issubclass(cls, Enum | Exception):
            continue
        instance = object.__new__(cls)
        for name, member in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            if inspect.iscoroutinefunction(member):
                continue
            returns = typing.get_type_hints(member).get("return")
            if "Panel" in repr(returns) or returns is str:
                found.append(getattr(instance, name))
    return found


FUNCTIONS = [
    f
    for m in _text_modules()
    for f in [*_functions(m), *_rendering_methods(m)]
    if NOT_HTML.get(f"{m.__name__}.{f.__qualname__}") != "value"
]


def _name(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _with_known(funcs: list[Callable[..., Any]]) -> list[Any]:
    return [
        pytest.param(
            f,
            id=_name(f),
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN[_name(f)])]
            if _name(f) in KNOWN
            else [],
        )
        for f in funcs
    ]


def check_function(func: Callable[..., Any]) -> list[str]:
    qualname = _name(func)
    kind = NOT_HTML.get(qualname, "html")
    failures: list[str] = []
    seen: set[str] = set()
    for kwargs in calls(func):
        if "channel_id" in kwargs and "group" in kwargs:
            # The id of one of the group's channels (a page about a linked channel).
            channels = kwargs["group"].channels
            if not channels:
                continue
            kwargs["channel_id"] = channels[-1].channel_id
        try:
            result = func(**kwargs)
        except SettingsError as err:  # shown to the admin, escaped (see group_commands)
            result, kind_now = html.escape(str(err), quote=False), "html"
        except Exception as err:
            result, kind_now = None, "html"
            failures.append(f"{qualname}({_short(kwargs)}) raised {err!r}")
        else:
            kind_now = kind
        for problem in result_problems(kind_now, result):
            if problem not in seen:  # one example of each problem
                seen.add(problem)
                failures.append(f"{qualname}({_short(kwargs)}): {problem}")
    return failures


def test_the_text_modules_are_found() -> None:
    names = {_name(f) for f in FUNCTIONS}
    for expected in ("gmbot.bot.render.protect", "gmbot.services.texts.prompt"):
        assert expected in names
    assert len(FUNCTIONS) >= 20


@pytest.mark.parametrize("func", _with_known(FUNCTIONS))
def test_every_text_function_renders_valid_html(func: Callable[..., Any]) -> None:
    failures = check_function(func)
    assert not failures, "\n".join(failures[:20])


def _constants() -> list[tuple[str, str]]:
    found = []
    for module in _text_modules():
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str):
                found.append((f"{module.__name__}.{name}", value))
            elif name.isupper() and isinstance(value, dict):
                # e.g. the callback answers: {outcome: (text, alert)}
                for key, item in value.items():
                    text = item[0] if isinstance(item, tuple) and item else item
                    if isinstance(text, str) and " " in text:
                        found.append((f"{module.__name__}.{name}[{key!r}]", text))
    return found


@pytest.mark.parametrize(("where", "text"), _constants(), ids=lambda x: str(x)[:60])
def test_every_text_constant_is_valid_html(where: str, text: str) -> None:
    if where in ALERT_CONSTANTS:
        assert len(text) <= ALERT_MAX
    # Constants are sent as they are (HTML) or as alerts; both must parse.
    assert html_problem(text) is None, f"{where}: {html_problem(text)}"


# ---- the settings panel


def _panel_service() -> Any:
    from gmbot.services.settings_panel import SettingsPanelService

    # Rendering a page uses none of the service's collaborators.
    return SettingsPanelService(None, None, None, lambda: NOW)  # type: ignore[arg-type]


PANEL_CHATS = (HUGE_ID, -1, -100999999999999999 // 10)


def test_every_panel_page_and_keyboard() -> None:
    service = _panel_service()
    failures: list[str] = []
    variants = dataclass_values(GroupSettings)
    for settings, chat_id, private in itertools.product(variants, PANEL_CHATS, (False, True)):
        pages = [
            (
                "main_page",
                service.main_page(chat_id, settings, private=private, bot_username="g" * 32),
            )
        ]
        for index in range(len(SETTINGS)):
            page = service.setting_page(chat_id, index, settings, private=private)
            pages.append((f"setting_page({SETTINGS[index].key})", page))
        for where, page in pages:
            for problem in result_problems("html", page):
                failures.append(f"settings_panel {where} chat {chat_id}, {settings}: {problem}")
    assert not failures, "\n".join(sorted(set(failures))[:20])


def test_every_panel_notice_fits_an_alert() -> None:
    # The answer to a choice's button: "<key>: <value shown>".
    failures = []
    for spec in SETTINGS:
        for settings in dataclass_values(GroupSettings):
            for choice in spec.choices:
                try:
                    new = spec.apply(settings, choice)
                except SettingsError as err:
                    notice = str(err)[:200]
                else:
                    notice = f"{spec.key}: {spec.show(new)}"
                if len(notice) > ALERT_MAX:
                    failures.append(f"{spec.key} {choice!r}: {len(notice)} characters")
    assert not failures, "\n".join(failures[:20])


# ---- /settings <key> <value>: the router's replies, errors included

BAD_VALUES = (
    "<duration>",
    '<b>&"',
    "&",
    "x" * 300,
    "-1",
    "0",
    "99999999999999999999",
    "1x",
    "auto 99999",
    "auto x",
    "on off maybe",
    "{",
    "}",
    "{unknown}",
    "<b>unclosed",
    "<div>x</div>",
    "a\nb",
    TAGGY[:300],
    HOSTILE * 6,
)


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    async def reply(self, text: str, parse_mode: str | None = None, **_: Any) -> None:
        self.sent.append((text, parse_mode))

    answer = reply


def _router_world(settings: GroupSettings) -> tuple[Any, Any, _Recorder]:
    from gmbot.services.admin_check import Permission

    recorder = _Recorder()
    message = SimpleNamespace(
        chat=SimpleNamespace(id=HUGE_ID, title=HOSTILE, type="supergroup"),
        sender_chat=None,
        from_user=SimpleNamespace(id=1, full_name=HOSTILE, is_bot=False),
        reply_to_message=None,
        reply=recorder.reply,
        answer=recorder.answer,
    )

    async def may_configure(*_: Any) -> Permission:
        return Permission()

    async def update_settings(chat_id: int, key: str, value: str) -> GroupSettings:
        return group_settings.apply_setting(settings, key, value)

    async def exempt(*_: Any) -> bool:
        return True

    async def open_panel(*_: Any, **__: Any) -> None:
        return None

    services = SimpleNamespace(
        admin_check=SimpleNamespace(may_configure=may_configure),
        group_admin=SimpleNamespace(update_settings=update_settings, exempt=exempt),
        panel=SimpleNamespace(open=open_panel),
        bot_username="gm_bot",
    )
    return message, services, recorder


def _settings_commands() -> list[str]:
    args = [""]
    for spec in SETTINGS:
        for key in (spec.key, *spec.aliases):
            args.append(key)  # no value: the usage
        args.extend(f"{spec.key} {value}" for value in (*BAD_VALUES, *spec.choices))
        args.append(f"{spec.key} {spec.usage}")
    args.extend(f"{key} on" for key in ("<b>", "nosuch", HOSTILE))
    return args


async def test_every_settings_reply_is_valid_html() -> None:
    from gmbot.bot.routers import group_commands

    failures = []
    for settings in (GroupSettings(), *dataclass_values(GroupSettings)[1:8]):
        for args in _settings_commands():
            message, services, recorder = _router_world(settings)
            command = SimpleNamespace(args=args, command="settings")
            await group_commands.settings(message, command, services)  # type: ignore[arg-type]
            assert recorder.sent, f"/settings {args!r} sent nothing"
            for text, mode in recorder.sent:
                problem = html_problem(text) if mode == "HTML" else None
                if problem:
                    failures.append(f"/settings {args[:60]!r}: {problem}")
    assert not failures, "\n".join(sorted(set(failures))[:20])


@pytest.mark.parametrize("name", ["exempt", "unexempt"])
@pytest.mark.parametrize("args", [None, "", "123456789", "2251799813685247", "x y", HOSTILE])
async def test_every_exempt_reply_is_valid_html(name: str, args: str | None) -> None:
    from gmbot.bot.routers import group_commands

    message, services, recorder = _router_world(GroupSettings())
    command = SimpleNamespace(args=args, command=name)
    await group_commands.exempt(message, command, services)  # type: ignore[arg-type]
    assert recorder.sent
    for text, mode in recorder.sent:
        assert mode == "HTML"
        assert html_problem(text) is None, text


def test_every_settings_error_is_valid_html_once_escaped() -> None:
    """The registry itself (the panel shows its errors as alerts, the router escapes them)."""
    failures = []
    for spec in SETTINGS:
        for value in BAD_VALUES:
            try:
                spec.apply(GroupSettings(), value)
            except SettingsError as err:
                problem = html_problem(html.escape(str(err), quote=False))
                if problem:
                    failures.append(f"{spec.key} {value[:40]!r}: {problem}")
    assert not failures, "\n".join(failures[:20])


# ---- literal texts handed to Telegram anywhere in the routers and services

# call name -> index of the text argument (HTML unless parse_mode says otherwise)
SENDERS = {
    "_reply": 1,
    "send_message": 1,
    "edit_message": 2,
    "notify": 2,
    "reply": 0,
    "answer": 0,
    "Panel": 0,
    "Reply": 0,  # private_panel's answer to a private message: its text is HTML
}
# call name -> keyword of an alert's text (plain, 1-200 characters)
ALERTS = {"Press": "notice", "answer_callback": "text"}


def _literal(node: ast.expr) -> str | None:
    """The text of a literal (f-string values stand in as "1"); None if not a literal."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            literal = _literal(value) if isinstance(value, ast.Constant) else "1"
            parts.append(literal or "")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _sent_literals() -> list[tuple[str, str, str]]:
    """(where, text, kind) for every literal text passed to a sending call; kind is
    "html", "plain" (a message without parse_mode) or "alert" (a callback answer)."""
    found = []
    for folder in ("gmbot/bot", "gmbot/services"):
        for path in sorted((SRC / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                for k in node.keywords:
                    alert = _literal(k.value) if k.arg == ALERTS.get(name) else None
                    if alert is not None:
                        found.append((where, alert, "alert"))
                index = SENDERS.get(name)
                if index is None:
                    continue
                if len(node.args) > index:
                    text = _literal(node.args[index])
                else:
                    text = next((_literal(k.value) for k in node.keywords if k.arg == "text"), None)
                if text is None:
                    continue
                modes = [k.value for k in node.keywords if k.arg == "parse_mode"]
                as_html = name not in ("reply", "answer") or any(
                    isinstance(m, ast.Constant) and m.value == "HTML" for m in modes
                )
                found.append((where, text, "html" if as_html else "plain"))
    return found


def test_literal_texts_are_found() -> None:
    wheres = [w for w, _, _ in _sent_literals()]
    assert any("routers/group_commands.py" in w for w in wheres)
    assert any("settings_panel.py" in w for w in wheres)


@pytest.mark.parametrize(("where", "text", "kind"), _sent_literals(), ids=lambda x: str(x)[:50])
def test_every_literal_text_sent_is_valid_html(where: str, text: str, kind: str) -> None:
    if kind == "html":
        assert html_problem(text) is None, f"{where}: {html_problem(text)}"
    else:
        assert text.strip(), f"{where}: an empty text"
    if kind == "alert":
        assert len(text) <= ALERT_MAX, f"{where}: an alert of {len(text)} characters"


# ---- the longest value an admin can type (a message is at most 4096 characters)

KNOWN_LONG: dict[str, str] = {}


def _longest_commands() -> list[Any]:
    params = []
    for key in [spec.key for spec in SETTINGS] + ["?"]:
        if key == "?":
            args = "k" * (4096 - len("/settings  on")) + " on"
        else:
            args = f"{key} " + "z" * (4096 - len(f"/settings {key} "))
        marks = (
            [pytest.mark.xfail(strict=True, reason=KNOWN_LONG[key])] if key in KNOWN_LONG else []
        )
        params.append(pytest.param(args, id=key, marks=marks))
    return params


@pytest.mark.parametrize("args", _longest_commands())
async def test_the_reply_to_the_longest_command_is_sent(args: str) -> None:
    from gmbot.bot.routers import group_commands

    message, services, recorder = _router_world(GroupSettings())
    command = SimpleNamespace(args=args, command="settings")
    await group_commands.settings(message, command, services)  # type: ignore[arg-type]
    for text, mode in recorder.sent:
        problem = html_problem(text) if mode == "HTML" else None
        assert problem is None, f"/settings {args[:40]}…: {problem}"
