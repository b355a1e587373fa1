"""The hostile corpus (tests/corpus): each message gets its disposition and mails no outsider.

Every file runs on a fresh bot (Maildir in and out, real SQLite, manual clock), after
the files its entry in `expected.toml` names. Besides the disposition, every file must
leave: no mail to anyone but staff and (for a new case only) the case's reporter; no
mail at all for the silent dispositions (staff alerts allowed for quarantine and
bounces); its raw bytes stored; an empty new/; only sanitised attachment names.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import time
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from factories import maildir_service
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import config
from mailbot.core.models import Disposition
from mailbot.mail import parsing
from mailbot.mail.contacts import extract_contacts, normalize_address
from mailbot.mail.decoding import split_params
from mailbot.mail.rendering import Identity, build_mail
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.recording import Outcome
from mailbot.store.rows import OutboxEntry

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text())
MON_21_DEC_10H = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)  # 10:00 CET, office hours
#: The scheduler's mails (run_once ticks too); not caused by the message under test.
SCHEDULER_KINDS = frozenset({"digest", "reminder", "escalation", "closure_warning"})
D = Disposition
#: Silent dispositions that send nothing at all (quarantine and bounces may alert staff).
NO_MAIL = frozenset({D.LOOP, D.AUTO_REPLY, D.SPAM, D.DUPLICATE})


class Bot:
    """A service on a temporary Maildir pair with a manual clock (as in test_pipeline)."""

    def __init__(self, base: Path, settings: config.Settings) -> None:
        self.settings = settings
        self.inbox = base / "inbox"
        self.outbox = base / "outbox"
        self.service = maildir_service(base, settings, ManualClock(MON_21_DEC_10H))

    def handle(self, raw: bytes, at: datetime = MON_21_DEC_10H) -> list[Outcome]:
        """Deliver `raw` and run one `run --once` pass; the outcomes of that pass."""
        deliver_to_maildir(self.inbox, raw, at)
        outcomes, _ = asyncio.run(self.service.run_once())
        return outcomes

    def outbox_rows(self) -> list[OutboxEntry]:
        """Outbox rows the messages caused (queued, sent or suppressed), not the scheduler's."""
        rows = self.service.store.outbox_all()
        return [r for r in rows if r.kind not in SCHEDULER_KINDS]

    def sent(self) -> list[EmailMessage]:
        """Every mail the Maildir transport wrote, parsed."""
        folder = self.outbox / "new"
        files = sorted(folder.iterdir()) if folder.exists() else []
        return [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in files
        ]


def bot_for(name: str, base: Path) -> Bot:
    """A fresh bot with the settings the entry of `name` asks for."""
    entry = EXPECTED[name]
    settings = config.embedded(base)
    if "max_message_bytes" in entry:
        limits = replace(settings.limits, max_message_bytes=entry["max_message_bytes"])
        settings = replace(settings, limits=limits)
    if "require_authenticated" in entry:
        staff = replace(settings.staff, require_authenticated=entry["require_authenticated"])
        settings = replace(settings, staff=staff)
    return Bot(base, settings)


def staff_of(settings: config.Settings) -> frozenset[str]:
    """Every staff address of the settings, lower-cased."""
    s = settings.staff
    return frozenset(a.lower() for a in (*s.addresses, *s.notify, *s.escalate))


def run_file(name: str, base: Path) -> tuple[Bot, list[Outcome], list[OutboxEntry]]:
    """Run the `after` files, then `name`; the bot, its outcomes and the rows it caused."""
    bot = bot_for(name, base)
    setup = EXPECTED[name].get("after", [])
    for n, earlier in enumerate(setup):
        bot.handle((CORPUS / earlier).read_bytes(), MON_21_DEC_10H - timedelta(minutes=10 - n))
    before = {r.id for r in bot.outbox_rows()}
    outcomes = bot.handle((CORPUS / name).read_bytes())
    caused = [r for r in bot.outbox_rows() if r.id not in before]
    return bot, outcomes, caused


def test_corpus_is_complete_and_large_enough() -> None:
    """Every .eml has an entry with a valid disposition and a reason, and vice versa; 40+."""
    files = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert sorted(EXPECTED) == files
    assert len(files) >= 40
    for entry in EXPECTED.values():
        assert Disposition(entry["disposition"]).value == entry["disposition"]
        assert entry["why"].strip()
        assert all(earlier in EXPECTED for earlier in entry.get("after", []))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message(name: str, tmp_path: Path) -> None:
    """The file gets its disposition, mails only whom it may, is stored raw, leaves new/ empty."""
    entry = EXPECTED[name]
    bot, outcomes, caused = run_file(name, tmp_path)
    expected = Disposition(entry["disposition"])
    assert [o.disposition for o in outcomes] == [expected], outcomes
    assert not outcomes[0].reason.startswith("internal error"), outcomes[0].reason

    staff = staff_of(bot.settings)
    recipients = [a.lower() for r in caused for a in r.recipients]
    outsiders = sorted({a for a in recipients if a not in staff})
    if expected in NO_MAIL:
        assert recipients == []
    elif expected is D.NEW_CASE:
        case = bot.service.store.case(str(outcomes[0].case_id))
        assert case is not None
        assert outsiders == ([case.reporter_email] if case.reporter_email else [])
        if case.source == "direct":
            row = bot.service.store.message_by_sha(_sha(name))
            assert row is not None
            assert case.reporter_email == row.from_address
    else:
        assert outsiders == []

    raw = (CORPUS / name).read_bytes()
    stored = bot.service.store.message_by_sha(_sha(name))
    assert stored is not None
    assert bot.service.store.message_raw(stored.id) == raw
    assert list((bot.inbox / "new").iterdir()) == []
    _assert_clean_outgoing(bot)
    _assert_safe_attachment_names(bot)


def _sha(name: str) -> str:
    return hashlib.sha256((CORPUS / name).read_bytes()).hexdigest()


def _assert_clean_outgoing(bot: Bot) -> None:
    """Every mail written has one To, no Cc or Bcc, and goes to staff or a case's reporter."""
    store = bot.service.store
    reporters = {c.reporter_email for c in store.cases(include_closed=True) if c.reporter_email}
    allowed = staff_of(bot.settings) | reporters
    for mail in bot.sent():
        assert (mail["Cc"], mail["Bcc"], len(mail.get_all("To") or [])) == (None, None, 1)
        to = {a.addr_spec.lower() for a in mail["To"].addresses}
        assert to <= allowed, to
        for value in mail.values():
            assert "\r" not in str(value) and "\n" not in str(value)


def _assert_safe_attachment_names(bot: Bot) -> None:
    """Stored attachment names are bare: no separators, NUL, control characters or "..""."""
    rows = bot.service.store.db.execute("SELECT filename FROM attachments").fetchall()
    for (filename,) in rows:
        assert filename == parsing.sanitize_filename(filename)
        assert not any(ch in filename for ch in "/\\\x00\r\n")
        assert ".." not in filename
        assert not filename.startswith(".")


# --- regressions for what the fuzz campaign (tests/fuzz/campaign.py) found -------------------


def test_idn_reporter_is_acknowledged_at_the_a_label(tmp_path: Path) -> None:
    """A reporter at bücher.example gets a case and an ack to its A-label (was: internal error)."""
    bot, outcomes, caused = run_file("63-idn-reporter-address.eml", tmp_path)
    case = bot.service.store.case(str(outcomes[0].case_id))
    assert case is not None
    assert case.reporter_email == "joerg@xn--bcher-kva.example"
    recipients = sorted(a for r in caused for a in r.recipients)
    assert recipients == ["joerg@xn--bcher-kva.example", "security@gemeente.example"]


_LOCAL = st.text("aZ0.-_=?+'\u00e4", min_size=1, max_size=70)
_DOMAIN = st.text("aZ0.-_=?\u00e4\u00fc\u00df\u0130\u2603\u200d", min_size=1, max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.builds(lambda a, b: f"{a}@{b}", _LOCAL, _DOMAIN), st.text(max_size=300)))
def test_every_normalised_address_can_be_mailed(value: str) -> None:
    """Whatever normalize_address accepts, build_mail takes as a recipient (IDN, '-', '=?')."""
    address = normalize_address(value)
    if address is not None:
        mail = build_mail(
            kind="acknowledgement",
            identity=Identity("meldpunt@gemeente.example", "Meldpunt", "Gemeente"),
            to=(address,),
            subject="s",
            body="b",
            message_id="mailbot.test.x@gemeente.example",
            date=MON_21_DEC_10H,
        )
        assert mail.recipients == (address,)


def test_scheme_separators_without_a_scheme_are_scanned_in_linear_time() -> None:
    """A megabyte of "a://" is scanned for URLs in seconds (was: quadratic, about an hour)."""
    started = time.perf_counter()
    extract_contacts("", "a://" * 250_000)
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize(
    "params",
    [b"a=b;" * 250_000, b'a="' + b";" * 1_000_000, b'a="\\";' * 200_000, b'"a;' * 300_000],
    ids=["many-parameters", "open-quote", "escaped-quotes", "quote-runs"],
)
def test_parameter_floods_parse_in_linear_time(params: bytes) -> None:
    """A megabyte of MIME parameters parses in seconds (was: quadratic, up to an hour)."""
    raw = (
        b"From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n"
        b"--x\nContent-Type: text/plain; "
        + params
        + b"\nContent-Disposition: attachment; "
        + params
        + b"\n\nLek op https://a.gemeente.example\n--x--\n"
    )
    started = time.perf_counter()
    msg = parsing.parse(raw, MON_21_DEC_10H)
    assert time.perf_counter() - started < 5.0
    assert [d for d in msg.defects if d.startswith("parser_error")] == []


def test_parameter_given_whole_and_in_sections_needs_no_fallback() -> None:
    """name*= next to name*0*= (stdlib TypeError) no longer sends the message to quarantine."""
    raw = (
        b"From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n"
        b"--x\nContent-Type: text/plain; charset*=utf-8''a; charset*0*=b\n\nLek\n"
        b"--x\nContent-Type: application/pdf; name*=utf-8''a.pdf; name*0*=utf-8''b.pdf\n"
        b"Content-Disposition: attachment; filename*=utf-8''a; filename*0*=utf-8''b\n\n%PDF\n"
        b"--x--\n"
    )
    msg = parsing.parse(raw, MON_21_DEC_10H)
    assert (msg.defects, msg.text, [a.filename for a in msg.attachments]) == (
        ("no_message_id",),
        "Lek",
        ["attachment"],
    )


@settings(max_examples=200, deadline=None)
@given(st.text("ab=;\"\\ *'%\t\n", max_size=60))
def test_split_params_splits_as_the_stock_splitter(value: str) -> None:
    """decoding.split_params gives exactly what email.message._parseparam gives."""
    stock = email.message._parseparam(value)  # type: ignore[attr-defined]
    assert split_params(value) == stock


def test_lines_inside_deep_nesting_parse_in_linear_time() -> None:
    """20,000 lines inside 900 nested multiparts are refused in under a second (quarantine),
    instead of the email package's lines x depth boundary checks."""
    opening = "".join(
        f"--{d}\nContent-Type: multipart/mixed; boundary={d + 1}\n\n" for d in range(900)
    )
    raw = (
        "From: a@example.org\nContent-Type: multipart/mixed; boundary=0\n\n"
        + opening
        + "--900\nContent-Type: text/plain\n\n"
        + "x y\n" * 20_000
    ).encode()
    started = time.perf_counter()
    msg = parsing.parse(raw, MON_21_DEC_10H)
    assert time.perf_counter() - started < 1.0
    assert msg.defects[0] == "parser_error:ValueError"
