"""What each staff command does to a case (pure): its value checked, the transition
allowed or refused, the fields it changes and the audit event of each change. The
command language and the all-or-nothing rule are described in commands.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from mailbot.core.cases import TRANSITIONS, can_transition, find_tags
from mailbot.core.commandlines import Command, CommandError
from mailbot.core.models import Case, CaseState, Reward, Severity
from mailbot.core.wording import Phrase
from mailbot.mail.contacts import normalize_address
from mailbot.mail.pgp_outgoing import (
    KEY_BEGIN,
    KEY_END,
    EncryptionRefused,
    check_key,
    find_key,
    fingerprint_of,
    normal_fingerprint,
)

S = CaseState

STATUS_STATES = (S.ACKNOWLEDGED, S.INVESTIGATING, S.CONFIRMED)
CLOSE_STATES = (S.RESOLVED, S.CLOSED, S.REJECTED, S.DUPLICATE, S.SPAM)
SEVERITIES = tuple(Severity)
REWARDS = tuple(Reward)
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class Change:
    """One field changed by the commands: one audit event. `detail` ("state: acknowledged
    → confirmed") is a `wording.Phrase`: English in the event, the staff's language in the
    result mail."""

    field: str
    old: str
    new: str
    event_kind: str
    detail: str


@dataclass(frozen=True)
class CommandContext:
    """The case as it was and what the commands are checked against."""

    case: Case
    staff: frozenset[str]
    prefix: str
    known_cases: Callable[[str], bool]
    closing: bool  # a Close command is present
    now: datetime
    """The moment a key given with `Key:` must be valid at."""
    keys: tuple[bytes, ...] = ()
    """Keys the staff mail itself carries (attached): `Key: <fingerprint>` may name one."""
    replies: tuple[str, ...] = ()
    """The names of `[triage] known_findings`: what `Reply:` may name."""


_Update = tuple[dict[str, Any], tuple[Change, ...]]
_Outcome = CommandError | _Update


def _error(cmd: Command, why: str) -> CommandError:
    return CommandError(cmd.line, why)


def as_word(value: str) -> str:
    """`value` trimmed, without a trailing "." or "!", lower-cased."""
    return value.strip().rstrip(".!").strip().lower()


def _pick(cmd: Command, allowed: tuple[str, ...]) -> str | CommandError:
    word = as_word(cmd.value)
    if word in allowed:
        return word
    return _error(cmd, Phrase("cmd.not_one_of", value=repr(cmd.value), allowed=", ".join(allowed)))


def _change(field: str, old: object, new: object, kind: str) -> Change:
    def show(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    shown = [show(old) or Phrase("none"), show(new) or Phrase("none")]
    detail = Phrase("change", field=Phrase(f"field.{field}"), old=shown[0], new=shown[1])
    return Change(field, show(old), show(new), kind, detail)


def _set(case: Case, field: str, new: object, kind: str) -> _Update:
    old = getattr(case, field)
    if old == new:
        return {}, ()
    return {field: new}, (_change(field, old, new, kind),)


def _allowed(state: CaseState) -> str:
    status = ", ".join(s.value for s in STATUS_STATES if s in TRANSITIONS[state])
    close = [s.value for s in CLOSE_STATES if s in TRANSITIONS[state]]
    shown = status or Phrase("cmd.no_state")
    return Phrase("cmd.allowed_close", status=shown, close=", ".join(close)) if close else shown


def _move(cmd: Command, case: Case, target: CaseState) -> CommandError | None:
    if target is case.state or can_transition(case.state, target):
        return None
    return _error(
        cmd, Phrase("cmd.not_allowed", state=case.state.value, allowed=_allowed(case.state))
    )


def _status(cmd: Command, ctx: CommandContext) -> _Outcome:
    word = as_word(cmd.value)
    if ctx.closing:
        return _error(cmd, Phrase("cmd.status_and_close"))
    if word in {s.value for s in CLOSE_STATES}:
        return _error(cmd, Phrase("cmd.use_close", word=word))
    if word not in {s.value for s in STATUS_STATES}:
        names = ", ".join(s.value for s in STATUS_STATES)
        return _error(cmd, Phrase("cmd.not_one_of", value=repr(cmd.value), allowed=names))
    target, case = CaseState(word), ctx.case
    refused = _move(cmd, case, target)
    if refused is not None:
        return refused
    updates, changes = _set(case, "state", target, "state_changed")
    if updates and case.close_reason is not None:
        updates["close_reason"] = None
        changes += (_change("close_reason", case.close_reason, None, "close_reason_changed"),)
    return updates, changes


def _duplicate_reason(cmd: Command, text: str, ctx: CommandContext) -> str | CommandError:
    first, _, more = text.partition(" ")
    if first.lower() in {"of", "van"}:
        first, _, more = more.partition(" ")
    tags = find_tags(first, ctx.prefix)
    if not tags:
        return _error(cmd, Phrase("cmd.name_duplicate", prefix=ctx.prefix))
    other = tags[0]
    if other == ctx.case.id:
        return _error(cmd, Phrase("cmd.duplicate_self", case=other))
    if not ctx.known_cases(other):
        return _error(cmd, Phrase("cmd.no_such_case", case=other))
    return f"{other} {more}".strip()


def _close(cmd: Command, ctx: CommandContext) -> _Outcome:
    word, _, text = " ".join(cmd.value.split()).partition(" ")
    word = as_word(word)
    names = [s.value for s in CLOSE_STATES]
    if word not in names:
        value = repr(word) if word else Phrase("cmd.quoted", text=Phrase("nothing"))
        return _error(cmd, Phrase("cmd.not_one_of", value=value, allowed=", ".join(names)))
    target = CaseState(word)
    reason: str | CommandError = text
    if target is S.DUPLICATE:
        reason = _duplicate_reason(cmd, text, ctx)
    elif not any(ch.isalnum() for ch in text):
        reason = _error(cmd, Phrase("cmd.reason_required", word=word))
    if isinstance(reason, CommandError):
        return reason
    refused = _move(cmd, ctx.case, target)
    if refused is not None:
        return refused
    state_updates, state_changes = _set(ctx.case, "state", target, "state_changed")
    reason_updates, reason_changes = _set(ctx.case, "close_reason", reason, "close_reason_changed")
    return {**state_updates, **reason_updates}, state_changes + reason_changes


def _address(cmd: Command) -> str | CommandError:
    _, address = parseaddr(cmd.value)
    normal = normalize_address(address or cmd.value)
    if normal is None:
        return _error(cmd, Phrase("cmd.not_address", value=repr(cmd.value)))
    return normal


def _assign(cmd: Command, ctx: CommandContext) -> _Outcome:
    if as_word(cmd.value) == "none":
        return _set(ctx.case, "assignee", None, "assignee_changed")
    address = _address(cmd)
    if isinstance(address, CommandError):
        return address
    if address not in ctx.staff:
        return _error(cmd, Phrase("cmd.not_staff", address=address))
    return _set(ctx.case, "assignee", address, "assignee_changed")


def _reporter(cmd: Command, ctx: CommandContext) -> _Outcome:
    case = ctx.case
    address = _address(cmd)
    if isinstance(address, CommandError):
        return address
    if case.source != "relay" and case.reporter_email is not None:
        return _error(cmd, Phrase("cmd.reporter_direct", reporter=case.reporter_email))
    relay = case.relay_sender or ""
    if address in ctx.staff or address.rpartition("@")[2] == relay.rpartition("@")[2]:
        return _error(cmd, Phrase("cmd.reporter_staff", address=address))
    updates, changes = _set(case, "reporter_email", address, "reporter_changed")
    if "no_contact" in case.flags:
        updates["flags"] = tuple(flag for flag in case.flags if flag != "no_contact")
        changes = tuple(
            replace(c, detail=Phrase("change.no_contact_cleared", change=c.detail)) for c in changes
        )
    return updates, changes


def _simple(cmd: Command, ctx: CommandContext) -> _Outcome:
    if cmd.key == "note":
        if not cmd.value:
            return _error(cmd, Phrase("cmd.note_empty"))
        return {}, ()  # notes are in CommandResult.notes
    if cmd.key == "help":
        if cmd.value:
            return _error(cmd, Phrase("cmd.help_value"))
        return {}, ()
    allowed = {"severity": SEVERITIES, "reward": REWARDS}.get(cmd.key, YES_NO)
    picked = _pick(cmd, allowed)
    if isinstance(picked, CommandError):
        return picked
    if cmd.key == "severity":
        return _set(ctx.case, "severity", picked, "severity_changed")
    if cmd.key == "reward":
        return _set(ctx.case, "reward", picked, "reward_changed")
    if cmd.key == "waiting":
        return _set(ctx.case, "waiting", picked == "yes", "waiting_changed")
    return {}, ()  # internal: read by apply_commands


def _key_data(cmd: Command, ctx: CommandContext) -> bytes | CommandError:
    """The key data `Key:` names: its block, or the known key with its fingerprint."""
    value = cmd.value.strip()
    if not value:
        return _error(cmd, Phrase("cmd.key_missing"))
    if value.startswith(KEY_BEGIN):
        if KEY_END not in value:
            return _error(cmd, Phrase("cmd.key_no_end"))
        return value.encode()
    fingerprint = normal_fingerprint(value)
    if fingerprint is None:
        return _error(cmd, Phrase("cmd.key_not_fingerprint", value=repr(value[:100])))
    found = find_key(fingerprint, (ctx.case.reporter_key, *ctx.keys))
    if found is None:
        current = fingerprint_of(ctx.case.reporter_key) or Phrase("none")
        return _error(cmd, Phrase("cmd.key_unknown", fingerprint=fingerprint, current=current))
    return found


def _key(cmd: Command, ctx: CommandContext) -> _Outcome:
    """`Key:` sets the reporter's key (checked: usable for encryption now) or clears it."""
    case = ctx.case
    armor: str | None = None
    if as_word(cmd.value) != "none":
        data = _key_data(cmd, ctx)
        if isinstance(data, CommandError):
            return data
        try:
            armor = check_key(data, ctx.now, trial=True).armor
        except EncryptionRefused as exc:
            return _error(cmd, exc.reason)
    if armor == case.reporter_key:
        return {}, ()
    old, new = fingerprint_of(case.reporter_key), fingerprint_of(armor)
    shown = [old or Phrase("none"), new or Phrase("none")]
    detail = Phrase("change", field=Phrase("field.reporter_key"), old=shown[0], new=shown[1])
    change = Change("reporter_key", old, new, "reporter_key_changed", detail)
    return {"reporter_key": armor}, (change,)


def _reply(cmd: Command, ctx: CommandContext) -> _Outcome:
    """`Reply: <name>` names a known finding; the case is then marked as that finding
    (the template itself is sent by `staffmail`)."""
    name = as_word(cmd.value)
    if name not in ctx.replies:
        known = ", ".join(ctx.replies) or Phrase("none")
        return _error(cmd, Phrase("cmd.reply_unknown", value=repr(cmd.value), known=known))
    return _set(ctx.case, "known_finding", name, "known_finding_changed")


_HANDLERS: dict[str, Callable[[Command, CommandContext], _Outcome]] = {
    "status": _status,
    "close": _close,
    "assign": _assign,
    "reporter": _reporter,
    "key": _key,
    "reply": _reply,
}


def run_commands(
    commands: list[Command], ctx: CommandContext
) -> tuple[dict[str, Any], list[Change], list[CommandError]]:
    """Every command checked against the case as it was: (updates, changes, errors)."""
    updates: dict[str, Any] = {}
    changes: list[Change] = []
    errors: list[CommandError] = []
    for cmd in commands:
        outcome = _HANDLERS.get(cmd.key, _simple)(cmd, ctx)
        if isinstance(outcome, CommandError):
            errors.append(outcome)
        else:
            updates.update(outcome[0])
            changes.extend(outcome[1])
    return updates, changes, errors
