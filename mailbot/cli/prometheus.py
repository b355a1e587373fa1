"""`mailbot status --format prometheus`: the vital signs for node-exporter's textfile collector.

The Prometheus text exposition format 0.0.4: per metric family a `# HELP` and a `# TYPE`
line, then its samples, without timestamps (the collector refuses them). Every metric is a
gauge named `mailbot_...`, its unit last (`_seconds`, `_bytes`, `_messages`, `_mails`) where
it has one. A value that is unknown is left out, never NaN: no heartbeat yet gives no
`..._age_seconds` sample, an unreachable mailbox no `mailbot_backlog_messages` (and
`mailbot_mailbox_up 0`).

`mailbot_attention_check{check}` is 1 or 0 for every check, always the same series: alert
on it. `mailbot_attention_reason{check,reason}` carries the line of `mailbot status`; its
text holds durations and moments, so it is a new series whenever the text changes: read
it on a dashboard or in an alert's annotation, do not alert on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.cli.status import CHECKS, TICK_LIMIT, Snapshot, checks, intake_limit
from mailbot.core.securitytxt import expires_moment

Sample = tuple[dict[str, str], float]
"""The labels and the value of one sample."""


@dataclass(frozen=True)
class Family:
    """One metric family: a gauge, its help text, and its samples (none: unknown)."""

    name: str
    help: str
    samples: tuple[Sample, ...]

    def lines(self) -> list[str]:
        """`# HELP`, `# TYPE` and one line per sample."""
        head = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} gauge"]
        return head + [f"{self.name}{_labels(lb)} {_number(v)}" for lb, v in self.samples]


def gauge(name: str, help_text: str, value: float | None) -> Family:
    """A family of one unlabelled sample, or of none when `value` is unknown."""
    return Family(name, help_text, () if value is None else (({}, value),))


def render(snapshot: Snapshot, reasons: list[str]) -> str:
    """The metrics of `snapshot` in the Prometheus text exposition format.

    `reasons` (the lines of `status.attention`) decides `mailbot_attention`; the checks
    behind them are read again from `snapshot` for the per-check series.
    """
    families = [
        gauge(
            "mailbot_status_timestamp_seconds",
            "When `mailbot status` looked (Unix time).",
            snapshot.now.timestamp(),
        ),
        *_heartbeats(snapshot),
        *_mailbox(snapshot),
        *_outbox(snapshot),
        *_cases(snapshot),
        *_storage(snapshot),
        *_attention(snapshot, reasons),
    ]
    return "".join(line + "\n" for family in families for line in family.lines())


def _heartbeats(s: Snapshot) -> list[Family]:
    """Age and limit of the last intake pass and scheduler tick."""
    found = []
    for what, long, last, limit in (
        ("intake", "intake pass", s.intake, intake_limit(s.poll_seconds)),
        ("tick", "scheduler tick", s.tick, TICK_LIMIT),
    ):
        found += [
            gauge(
                f"mailbot_{what}_heartbeat_age_seconds",
                f"Seconds since the last {long} of `mailbot run` (absent: none recorded).",
                None if last is None else (s.now - last).total_seconds(),
            ),
            gauge(
                f"mailbot_{what}_heartbeat_limit_seconds",
                f"An age above this needs attention (the {long} check of `mailbot status`).",
                limit.total_seconds(),
            ),
        ]
    return found


def _mailbox(s: Snapshot) -> list[Family]:
    """Whether the mailbox answered, what waits in it, and what intake quarantined."""
    return [
        gauge(
            "mailbot_mailbox_up",
            "1 when the mailbox answered, 0 when not.",
            int(s.backlog is not None),
        ),
        gauge(
            "mailbot_backlog_messages",
            "Messages waiting in the mailbox (absent: unknown).",
            s.backlog,
        ),
        gauge(
            "mailbot_messages_quarantined",
            "Inbound messages with disposition quarantined (not released).",
            len(s.quarantined_at),
        ),
        gauge(
            "mailbot_messages_quarantined_last_7_days",
            "Messages still quarantined that were received in the last 7 days.",
            s.quarantined_recently,
        ),
    ]


def _outbox(s: Snapshot) -> list[Family]:
    """Queued and failed outgoing mail."""
    return [
        gauge("mailbot_outbox_queued_mails", "Outgoing mails waiting to be sent.", s.queued),
        gauge(
            "mailbot_outbox_oldest_queued_age_seconds",
            "Seconds the oldest queued mail has waited (absent: none queued).",
            None if s.oldest_queued is None else (s.now - s.oldest_queued).total_seconds(),
        ),
        gauge(
            "mailbot_outbox_failed_mails", "Outgoing mails that failed for good.", len(s.failed_at)
        ),
        gauge(
            "mailbot_outbox_failed_last_7_days_mails",
            "Outgoing mails that failed in the last 7 days.",
            s.failed_recently,
        ),
    ]


def _cases(s: Snapshot) -> list[Family]:
    """Open cases per state, deadlines, and the expiry of security.txt."""
    expires = s.security_txt_expires
    return [
        Family(
            "mailbot_cases_open",
            "Open cases per state.",
            tuple(({"state": state}, count) for state, count in s.cases.items()),
        ),
        gauge("mailbot_clocks_due_today", "Deadlines due today (office timezone).", s.due_today),
        gauge("mailbot_clocks_overdue", "Deadlines past and not met.", s.overdue),
        gauge(
            "mailbot_security_txt_expiry_timestamp_seconds",
            "The Expires of security.txt (Unix time; absent: no [security_txt] expires).",
            None if expires is None else expires_moment(expires, s.timezone).timestamp(),
        ),
    ]


def _storage(s: Snapshot) -> list[Family]:
    """Room on the database's filesystem (absent when statvfs failed)."""
    st = s.storage
    return [
        gauge(
            "mailbot_storage_free_bytes",
            "Bytes free for mailbot on the database's filesystem.",
            None if st is None else st.free,
        ),
        gauge(
            "mailbot_storage_needed_bytes",
            "Bytes one message of the largest allowed size may take.",
            None if st is None else st.needed,
        ),
        gauge(
            "mailbot_storage_read_only",
            "1 when the database's filesystem is mounted read-only.",
            None if st is None else int(st.read_only),
        ),
    ]


def _attention(s: Snapshot, reasons: list[str]) -> list[Family]:
    """The overall verdict, each check's, and the reason lines."""
    found = checks(s)
    return [
        gauge("mailbot_attention", "1 when something needs attention.", int(bool(reasons))),
        Family(
            "mailbot_attention_check",
            "1 when this check of `mailbot status` needs attention, else 0.",
            tuple(({"check": name}, int(found[name] is not None)) for name in CHECKS),
        ),
        Family(
            "mailbot_attention_reason",
            "Why a check needs attention (the text changes: alert on mailbot_attention_check).",
            tuple(({"check": n, "reason": line}, 1) for n in CHECKS if (line := found[n])),
        ),
    ]


def _number(value: float) -> str:
    """Whole numbers without a fraction; others as Python's shortest round-trip repr."""
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{escape_label(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def escape_label(value: str) -> str:
    """A label value as the exposition format wants it: `\\`, `"` and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    """HELP text: only `\\` and newline are escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")
