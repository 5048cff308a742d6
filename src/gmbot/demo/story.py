"""The scripted story of the demo, played against the emulator by the real bot process."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot_api_emulator import Bot, Chat, EmulatorClient, EmulatorError, User
from gmbot.demo.process import BotExited, BotProcess
from gmbot.demo.transcript import QUIET_METHODS, Names, buttons, clip, describe_call

T = TypeVar("T")

STEP_TIMEOUT = 15.0
CALLBACK_PREFIX = "gmv"


class StepFailed(Exception):
    """A step of the story did not happen."""


@dataclass(frozen=True)
class Cast:
    bot: Bot
    admin: User  # Ada, creator of the group and the channel
    newcomer: User  # Nora, a group member who is not subscribed
    member: User  # Max, a group member subscribed to the channel
    visitor: User  # Olek, a group member who is not subscribed, gated after the change
    group: Chat
    channel: Chat


async def build_world(client: EmulatorClient) -> Cast:
    bot = await client.create_bot("gmbot_demo_bot", first_name="GMBot")
    admin = await client.create_user("Ada", "ada_admin")
    newcomer = await client.create_user("Nora", "nora_newcomer")
    member = await client.create_user("Max", "max_reader")
    visitor = await client.create_user("Olek", "olek_visitor")
    group = await client.create_chat("supergroup", "Demo Group", creator_id=admin.id)
    channel = await client.create_chat(
        "channel", "Demo News", username="demo_news", creator_id=admin.id
    )
    await client.set_member(
        group.id, bot.id, "administrator", can_delete_messages=True, can_restrict_members=True
    )
    await client.set_member(channel.id, bot.id, "administrator")
    for user in (newcomer, member, visitor):
        await client.set_member(group.id, user.id, "member")
    await client.set_member(channel.id, member.id, "member")
    return Cast(bot, admin, newcomer, member, visitor, group, channel)


def names_of(cast: Cast) -> Names:
    names = Names()
    names.chats[cast.group.id] = "“Demo Group”"
    names.chats[cast.channel.id] = "@demo_news"
    names.users[cast.bot.id] = "GMBot"
    names.users[cast.admin.id] = "Ada"
    names.users[cast.newcomer.id] = "Nora"
    names.users[cast.member.id] = "Max"
    names.users[cast.visitor.id] = "Olek"
    return names


class Story:
    def __init__(
        self,
        client: EmulatorClient,
        cast: Cast,
        bot: BotProcess,
        out: Callable[[str], None],
    ) -> None:
        self.client = client
        self.cast = cast
        self.bot = bot
        self.out = out
        self.names = names_of(cast)
        self.since = 0  # journal sequence number of the last bot request shown
        self.step_title = "setup"
        self.steps_done = 0
        self._polling_shown = False
        self.nora_hello: dict[str, Any] = {}

    # ----- plumbing -------------------------------------------------------------------------

    def begin(self, title: str) -> None:
        self.step_title = title
        self.out("")
        self.out(f"▶ {title}")

    def done(self, what: str) -> None:
        self.steps_done += 1
        self.out(f"  ✓ {what}")

    def say(self, line: str) -> None:
        self.out(f"  {line}")

    async def wait(
        self,
        probe: Callable[[], Awaitable[T | None]],
        what: str,
        timeout: float = STEP_TIMEOUT,  # noqa: ASYNC109 - a deadline for the bot
    ) -> T:
        try:
            return await self.bot.wait_until(probe, timeout=timeout, message=what)
        except (TimeoutError, BotExited) as err:
            raise StepFailed(str(err).partition("; its output:")[0]) from None

    async def show_calls(self) -> list[str]:
        """Print the bot's Bot API requests since the last call; return their methods."""
        records = await self.client.requests(since=self.since, bot_id=self.cast.bot.id)
        methods = []
        for record in records:
            self.since = max(self.since, record.seq)
            methods.append(record.method)
            if record.method.lower() in QUIET_METHODS:
                if self._polling_shown:
                    continue
                self._polling_shown = True
            self.say(describe_call(record, self.names))
        return methods

    async def post(self, user: User, text: str) -> dict[str, Any]:
        message = await self.client.send_message(self.cast.group.id, user.id, text)
        self.say(f"[{user.first_name} → Demo Group] {text}")
        return message

    async def group_messages(self) -> list[dict[str, Any]]:
        return await self.client.messages(self.cast.group.id)

    async def bot_reply_after(self, message_id: int) -> dict[str, Any]:
        """The bot's first message in the group after `message_id`."""

        async def probe() -> dict[str, Any] | None:
            for message in await self.group_messages():
                sender = message.get("from", {}).get("id")
                if message["message_id"] > message_id and sender == self.cast.bot.id:
                    return message
            return None

        return await self.wait(probe, f"the bot did not answer message {message_id}")

    def bot_says(self, who: str, message: dict[str, Any]) -> None:
        head = f"[{who} sees] GMBot: "
        lines = str(message.get("text", "")).splitlines() or [""]
        self.say(head + lines[0])
        for line in lines[1:]:
            self.say(" " * len(head) + line)
        shown = buttons(message.get("reply_markup"))
        if shown:
            self.say(" " * len(head) + "  ".join(shown))

    # ----- the story ------------------------------------------------------------------------

    async def start(self) -> None:
        self.begin("The bot starts (python -m gmbot run, long polling)")
        started = time.monotonic()

        async def polling() -> bool:
            return bool(await self.client.requests("getUpdates", bot_id=self.cast.bot.id))

        await self.wait(polling, "the bot never called getUpdates", timeout=45.0)
        await self.show_calls()
        self.out(f"  ✓ GMBot is polling the emulator ({time.monotonic() - started:.1f}s)")

    async def protect(self) -> None:
        c = self.cast
        self.begin("1. Ada, the group's creator, protects the group with @demo_news")
        command = await self.post(c.admin, "/protect @demo_news")
        reply = await self.bot_reply_after(command["message_id"])
        await self.show_calls()
        self.bot_says("Ada", reply)
        if "Protection on" not in reply.get("text", ""):
            raise StepFailed(f"the bot refused to protect the group: {reply.get('text')!r}")
        self.done("the group is protected")

    async def gate(self) -> dict[str, Any]:
        c = self.cast
        self.begin("2. Nora, who is not subscribed to @demo_news, posts in the group")
        spam = await self.post(c.newcomer, "Hi all! Cheap followers, DM me 🚀")
        callback = f"{CALLBACK_PREFIX}:{c.newcomer.id}"

        async def removed_muted_prompted() -> dict[str, Any] | None:
            messages = await self.group_messages()
            if any(m["message_id"] == spam["message_id"] for m in messages):
                return None
            member = await self.client.member(c.group.id, c.newcomer.id)
            if member["status"] != "restricted" or member.get("can_send_messages"):
                return None
            for message in messages:
                if callback in str(message.get("reply_markup", "")):
                    return message
            return None

        prompt = await self.wait(
            removed_muted_prompted, "Nora's message was not removed, or she was not muted"
        )
        await self.show_calls()
        self.say("[Nora sees] her message is gone")
        self.say("[Nora sees] she is muted: restricted, can_send_messages=false")
        self.bot_says("Nora", prompt)
        try:
            await self.client.send_message(c.group.id, c.newcomer.id, "hello??")
        except EmulatorError as err:
            self.say(f"[Nora tries to write again] Telegram refuses: {err.message}")
        else:
            raise StepFailed("Nora could still post after being muted")
        self.done("Nora's message was removed, she is muted and has a prompt with buttons")
        return prompt

    async def press_too_early(self, prompt: dict[str, Any]) -> None:
        c = self.cast
        self.begin("3. Nora presses “✅ I've joined” without joining")
        self.say("[Nora → GMBot] presses “✅ I've joined”")
        answer = await self.client.press_button(
            c.group.id,
            prompt["message_id"],
            c.newcomer.id,
            f"{CALLBACK_PREFIX}:{c.newcomer.id}",
            timeout=STEP_TIMEOUT,
        )
        await self.show_calls()
        if not answer.answered:
            raise StepFailed("the bot did not answer the button press")
        kind = "alert" if answer.show_alert else "notice"
        self.say(f"[Nora sees] {kind}: {answer.text}")
        member = await self.client.member(c.group.id, c.newcomer.id)
        if member["status"] != "restricted":
            raise StepFailed(f"Nora was unmuted without joining (status {member['status']})")
        self.done("the bot checked with Telegram: not subscribed yet, so she stays muted")

    async def join(self, prompt: dict[str, Any]) -> None:
        c = self.cast
        self.begin("4. Nora joins @demo_news (the bot hears it: a chat_member update)")
        await self.client.join_chat(c.channel.id, c.newcomer.id)
        self.say("[Nora → @demo_news] joins the channel")

        async def unmuted() -> bool:
            member = await self.client.member(c.group.id, c.newcomer.id)
            if member["status"] == "restricted" and not member.get("can_send_messages"):
                return False
            ids = {m["message_id"] for m in await self.group_messages()}
            return prompt["message_id"] not in ids

        await self.wait(unmuted, "Nora was not unmuted after joining the channel")
        await self.show_calls()
        member = await self.client.member(c.group.id, c.newcomer.id)
        self.say(
            f"[Nora sees] the prompt is gone and she can write again (status {member['status']})"
        )
        self.nora_hello = await self.post(c.newcomer, "Joined! Hello everyone 👋")
        self.done("Nora was unmuted automatically, without pressing anything")

    async def member_posts(self) -> None:
        c = self.cast
        self.begin("5. Max, a subscriber, posts")
        hello = await self.post(c.member, "Welcome, Nora!")
        # A later command, answered, shows the bot is done with the messages before it.
        status = await self.post(c.admin, "/status")
        reply = await self.bot_reply_after(status["message_id"])
        await self.show_calls()
        self.bot_says("Ada", reply)
        present = {m["message_id"] for m in await self.group_messages()}
        for message in (hello, self.nora_hello):
            if message["message_id"] not in present:
                who = self.names.user(message["from"]["id"])
                raise StepFailed(f"{who}'s message was removed although {who} is subscribed")
        self.say("[Max sees] his message stays, and so does Nora's")
        self.done("a subscriber writes freely")

    async def message(self, message_id: int) -> dict[str, Any] | None:
        for message in await self.group_messages():
            if message["message_id"] == message_id:
                return message
        return None

    async def press(self, user: User, message: dict[str, Any], label: str) -> dict[str, Any]:
        """Press the button whose text starts with `label`; returns the edited message."""
        data = _callback_of(message, label)
        if data is None:
            raise StepFailed(f"no “{label}” button in {buttons(message.get('reply_markup'))}")
        self.say(f"[{user.first_name} → GMBot] presses “{label}…”")
        before = message.get("reply_markup")
        answer = await self.client.press_button(
            self.cast.group.id, message["message_id"], user.id, data, timeout=STEP_TIMEOUT
        )
        if not answer.answered:
            raise StepFailed(f"the bot did not answer the press on “{label}”")
        if answer.text:
            self.say(f"[{user.first_name} sees] notice: {answer.text}")

        async def edited() -> dict[str, Any] | None:
            now = await self.message(message["message_id"])
            return now if now is not None and now.get("reply_markup") != before else None

        return await self.wait(edited, f"the panel was not edited after “{label}”")

    async def panel(self) -> None:
        c = self.cast
        self.begin("6. Ada opens the settings panel (/settings) and switches the action to kick")
        command = await self.post(c.admin, "/settings")
        panel = await self.bot_reply_after(command["message_id"])
        await self.show_calls()
        self.bot_says("Ada", panel)
        page = await self.press(c.admin, panel, "Action:")
        await self.show_calls()
        self.bot_says("Ada", page)
        changed = await self.press(c.admin, page, "kick")
        await self.show_calls()
        self.bot_says("Ada", changed)
        if _callback_of(changed, "Action: kick") is None:
            raise StepFailed(
                f"the panel does not show the new action: {buttons(changed.get('reply_markup'))}"
            )
        self.done("the panel message was edited in place: the action is now kick")

    async def kick(self) -> None:
        c = self.cast
        self.begin("7. Olek, who is not subscribed either, posts: he is removed from the group")
        spam = await self.post(c.visitor, "Free crypto for everyone!!")

        async def kicked() -> dict[str, Any] | None:
            if await self.message(spam["message_id"]) is not None:
                return None
            member = await self.client.member(c.group.id, c.visitor.id)
            if member["status"] != "left":
                return None
            for message in await self.group_messages():
                by_bot = message.get("from", {}).get("id") == c.bot.id
                later = message["message_id"] > spam["message_id"]
                if by_bot and later and "Olek" in str(message.get("text", "")):
                    return message
            return None

        prompt = await self.wait(kicked, "Olek's message was not removed, or he was not kicked")
        await self.show_calls()
        self.say("[Olek sees] his message is gone and he is out of the group (status left)")
        self.bot_says("Olek", prompt)
        await self.client.join_chat(c.group.id, c.visitor.id)
        self.say("[Olek → Demo Group] joins again: the kick was a ban lifted at once")
        self.done("Olek was removed with banChatMember + unbanChatMember and may come back")

    async def epilogue(self) -> None:
        self.begin("What everyone sees in Demo Group now")
        for message in await self.group_messages():
            if "text" not in message:
                continue  # service messages (joins)
            sender = self.names.user(message.get("from", {}).get("id"))
            self.say(f"{sender}: {clip(message['text'], 100)}")


async def play(story: Story) -> None:
    await story.start()
    await story.protect()
    prompt = await story.gate()
    await story.press_too_early(prompt)
    await story.join(prompt)
    await story.member_posts()
    await story.panel()
    await story.kick()
    await story.epilogue()


def _callback_of(message: dict[str, Any], label: str) -> str | None:
    markup = message.get("reply_markup") or {}
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if str(button.get("text", "")).startswith(label) and "callback_data" in button:
                return str(button["callback_data"])
    return None
