"""Staff commands (pure): parse the `Key: value` lines on top of a staff reply and apply them.

The command block (`commandlines.split_commands`)
    Every line is first read as `commandlines.visible` shows it: invisible characters
    (byte-order mark, zero-width characters, bidi controls, soft hyphen, any Unicode Cf)
    removed, no-break and other Unicode spaces as " ". Leading blank lines are skipped.
    The block is the run of lines that are either blank, `Help` alone (optionally
    followed by ".", "!", "?" or ":"), or `Key: value` where Key is one word of letters
    and hyphens (any case), the colon is not followed by "//" (so a URL is not a
    command), and Key is not a mail-header word (From, Sent, To, Subject, Date, Cc, Van,
    Verzonden, Aan, Onderwerp, Datum, …: those start the quoted history). The first
    other line ends the block; everything from it on is `rest`. Blank lines between
    commands are allowed because mail clients that write HTML put each line in its own
    paragraph. A one-word `Key:` that is not a command (e.g. "Update: …", "Staus: …") is an
    error ("Unknown command", with "did you mean" when close), never text for the reporter:
    a misspelt internal command must not leak. `Note: …` lines on top are internal notes.

Fail safe for `Internal:`
    A line shaped like an `Internal:` command (`commandlines.internal_lines`: any case,
    invisible characters, full-width letters, bullets, quote marks or emphasis around it)
    in the staff's own text below the block — `replies.split_reply(rest)`'s text and
    signature, not the quoted history — was not applied. It is an error: nothing is
    applied and nothing relayed, and the refusal says to put it on top (a mail program
    may have wrapped a long line above it). Unless `Internal: yes` itself was applied.

The commands (keys case-insensitive, values trimmed, enumerated values case-insensitive)
    Status: acknowledged|investigating|confirmed
        Moves the case within the open states, as `cases.TRANSITIONS` allows. From a closed
        state only `Status: investigating` is allowed (reopening; it clears the close
        reason). The current state again is no change. Closed states are set with Close.
    Close: resolved|closed|rejected|spam <reason>  /  Close: duplicate <case id> [text]
        Sets a closed state as `cases.TRANSITIONS` allows; the reason is required (it must
        contain a letter or digit). For duplicate the next word (after an optional "of") must
        be another existing case (`known_cases`), not this one; the close reason is that id
        plus the text after it. The current state again only updates the reason. Status and
        Close together: error.
    Assign: address | none
        The address (bare or "Name <address>") must be on the staff list: the assignee sees
        the reporter's data. `none` clears the assignee.
    Severity: low|medium|high|critical      Reward: undecided|yes|no|sent
    Reporter: address
        Only for a relayed report or a report without a reporter address; never a staff
        address, the relay's address or its domain. Sets reporter_email, clears the
        `no_contact` flag, and `new_reporter` tells the caller to acknowledge to it.
    Key: <key block> | <fingerprint> | none
        The reporter's OpenPGP public key: mail to the reporter is encrypted to it from now
        on (`compose.reporter_mail`). The armoured block follows on the lines below `Key:`
        (or starts on its line) up to `-----END PGP PUBLIC KEY BLOCK-----`
        (`commandlines.key_block`); a fingerprint (40 or 64 hex digits, spaces allowed)
        names the case's current key or a key attached to this staff mail. The key must
        be usable now (`pgp_outgoing.check_key` with a trial encryption): not expired,
        revoked, secret, too large or with too many user IDs. `none` stops encrypting.
        The event and the result mail show fingerprints, never the key.
    Reply: <name>
        Sends the reply template of the known finding `name` (`[triage] known_findings`,
        `replies`) to the reporter, relayed like staff text: the template's body first, then
        the staff's own text below the commands, if any, in one mail (`staffmail`). Sets
        `known_finding` to the name. Refused: a name that is not known (the refusal lists
        the known names), with `Internal: yes`, or when the case has no reporter address
        (unless `Reporter:` in the same mail sets one). `known_reply` holds the name.
    Internal: yes|no    (yes: nothing of this mail reaches the reporter, not even a status mail)
    Waiting: yes|no     (the "waiting for reporter" flag)
    Note: text          (an internal note; several Note lines are several notes)
    Help                (takes no value; may stand alone or with other commands)

All or nothing: every line is checked against the case as it was; any error (unknown key,
bad value, refused transition, a key repeated with a different value) means no change at
all. A key repeated with the same value counts once. Each changed field gives one Change
(one audit event), in command order; notes are no Change: `notes` lists them (the caller
records each as an event of kind "note"). A refusal reads f"{error.line} — {error.reason}"
(the reason a `wording.Phrase`: English, or `localise`d for the staff's result mail).
`status_mail` is "confirmed", "resolved", "rejected" or "duplicate" when the state moved
there, else "reward" when the reward became "yes", else None; None whenever Internal: yes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mailbot.core.command_rules import Change, CommandContext, as_word, run_commands
from mailbot.core.commandlines import (
    Command,
    CommandError,
    dedupe,
    parse_line,
    split_commands,
    stray_internal,
)
from mailbot.core.models import Case, CaseState
from mailbot.core.phrases import HELP
from mailbot.core.replies import ReplyParts, split_reply
from mailbot.core.wording import Phrase, language_of
from mailbot.mail.contacts import normalize_address

S = CaseState

#: The command list for the help mail in English: (syntax, explanation); `help_list` gives
#: it in the staff language.
HELP_TEXT_KEYS: list[tuple[str, str]] = list(HELP["en"])


def help_list(language: str) -> list[tuple[str, str]]:
    """The command list for the help mail in `language`: (syntax, explanation)."""
    return list(HELP[language_of(language)])


_STATUS_MAILS = {S.CONFIRMED, S.RESOLVED, S.REJECTED, S.DUPLICATE}


@dataclass(frozen=True)
class CommandResult:
    """What the commands of one staff mail do to a case."""

    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    changes: tuple[Change, ...]
    case: Case
    internal: bool
    help: bool
    notes: tuple[str, ...]
    new_reporter: str | None
    status_mail: str | None
    rest: str
    reply: ReplyParts
    """`rest` split: the staff's own text (relayed unless internal), signature, history."""
    known_reply: str | None = None
    """The known finding whose reply template goes to the reporter (`Reply:`), else None."""

    @property
    def relay_allowed(self) -> bool:
        """True when the text may go to the reporter: no errors and not internal."""
        return not self.errors and not self.internal


def _status_mail(old: Case, new: Case, internal: bool) -> str | None:
    if internal:
        return None
    if new.state is not old.state and new.state in _STATUS_MAILS:
        return new.state.value
    if new.reward != old.reward and new.reward == "yes":
        return "reward"
    return None


def apply_commands(
    case: Case,
    body: str,
    *,
    staff: frozenset[str],
    case_prefix: str,
    known_cases: Callable[[str], bool],
    now: datetime | None = None,
    keys: Sequence[bytes] = (),
    replies: Sequence[str] = (),
) -> CommandResult:
    """Parse the commands on top of `body` and apply them all to `case`, or none of them
    (`now`, default the receipt: when a `Key:` key must be valid; `keys`: the mail's own;
    `replies`: the names of the known findings `Reply:` may name)."""
    lines, rest = split_commands(body)
    parsed = [parse_line(line) for line in lines]
    commands, repeats = dedupe([p for p in parsed if isinstance(p, Command)])
    ctx = CommandContext(
        case, _addresses(staff), case_prefix, known_cases, any(c.key == "close" for c in commands),
        now or case.received_at, tuple(keys), tuple(replies),
    )  # fmt: skip
    updates, changes, refused = run_commands(commands, ctx)
    errors = [p for p in parsed if isinstance(p, CommandError)] + repeats + refused
    internal = any(c.key == "internal" and as_word(c.value) == "yes" for c in commands)
    reply_to = next((c for c in commands if c.key == "reply"), None)
    reply = split_reply(rest)
    errors += _whole_mail_errors(reply_to, internal, bool(refused), replace(case, **updates), reply)
    wants_help = any(c.key == "help" for c in commands)
    if errors:
        order = {p.line: i for i, p in enumerate(parsed)}
        errors.sort(key=lambda e: order.get(e.line, len(lines)))
        changes, updates = [], {}
    new_case = replace(case, **updates)
    reporter_changed = new_case.reporter_email != case.reporter_email
    return CommandResult(
        commands=tuple(commands),
        errors=tuple(errors),
        changes=tuple(changes),
        case=new_case,
        internal=internal,
        help=wants_help,
        notes=() if errors else tuple(c.value for c in commands if c.key == "note"),
        new_reporter=new_case.reporter_email if reporter_changed else None,
        status_mail=None if errors else _status_mail(case, new_case, internal),
        rest=rest,
        reply=reply,
        known_reply=as_word(reply_to.value) if reply_to is not None and not errors else None,
    )


def _reply_refused(cmd: Command, internal: bool, new_case: Case) -> list[CommandError]:
    """Why `Reply:` cannot go to the reporter of `new_case` (the case as the commands
    leave it), if it cannot."""
    if internal:
        return [CommandError(cmd.line, Phrase("cmd.reply_internal"))]
    if new_case.reporter_email is None:
        return [CommandError(cmd.line, Phrase("cmd.reply_no_reporter"))]
    return []


def _whole_mail_errors(
    reply_to: Command | None, internal: bool, refused: bool, updated: Case, reply: Any
) -> list[CommandError]:
    """What only the whole mail shows: a `Reply:` that cannot go out, an `Internal:` line
    that was not applied (then nothing of the mail is relayed)."""
    errors: list[CommandError] = []
    if reply_to is not None and not refused:
        errors += _reply_refused(reply_to, internal, updated)
    if not internal:
        errors += stray_internal(f"{reply.text}\n{reply.signature}")
    return errors


def _addresses(staff: frozenset[str]) -> frozenset[str]:
    """The staff addresses, normalised (unusable ones left out)."""
    return frozenset(a for a in (normalize_address(s) for s in staff) if a)
