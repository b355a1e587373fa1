"""`mailbot security-txt`: an RFC 9116 security.txt from [security_txt] (issue item 5)."""

from __future__ import annotations

import stat
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import factories
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.config import SecurityTxtSettings, load
from mailbot.core.errors import ConfigError
from mailbot.core.securitytxt import (
    check_expires,
    expires_moment,
    expiry_warning,
    fingerprint_uri,
    one_year_after,
    render,
)

TZ = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)  # Monday 21 December 2026, 10:05 local
ADDRESS = "meldpunt@gemeente.example"


def test_render_every_field() -> None:
    """All fields: Contact from the identity, Expires at the end of the day, nl and en."""
    config = SecurityTxtSettings(
        policy_url="https://gemeente.example/meldpunt",
        encryption="https://gemeente.example/pgp-key.txt",
        expires=date(2027, 6, 30),
        canonical="https://gemeente.example/.well-known/security.txt",
    )
    expected = (
        "Contact: mailto:meldpunt@gemeente.example\n"
        "Expires: 2027-06-30T23:59:59+02:00\n"
        "Encryption: https://gemeente.example/pgp-key.txt\n"
        "Policy: https://gemeente.example/meldpunt\n"
        "Canonical: https://gemeente.example/.well-known/security.txt\n"
        "Preferred-Languages: nl, en\n"
    )
    assert render(config, ADDRESS, NOW, TZ) == expected


def test_render_leaves_out_unset_optional_fields() -> None:
    """Without policy, encryption and canonical only Contact, Expires and languages remain."""
    actual = render(SecurityTxtSettings(expires=date(2027, 1, 31)), ADDRESS, NOW, TZ)
    expected = (
        "Contact: mailto:meldpunt@gemeente.example\n"
        "Expires: 2027-01-31T23:59:59+01:00\n"
        "Preferred-Languages: nl, en\n"
    )
    assert actual == expected


@pytest.mark.parametrize(
    ("expires", "needle"),
    [
        (None, "[security_txt] expires is required"),
        (date(2026, 12, 20), "[security_txt] expires 2026-12-20 is in the past"),
        (date(2027, 12, 21), "[security_txt] expires 2027-12-21 is a year or more ahead"),
        (date(2030, 1, 1), "[security_txt] expires 2030-01-01 is a year or more ahead"),
    ],
)
def test_bad_expires_is_an_error_naming_the_key(expires: date | None, needle: str) -> None:
    """A missing, past or too distant Expires refuses to render, naming the key."""
    with pytest.raises(ConfigError) as info:
        render(SecurityTxtSettings(expires=expires), ADDRESS, NOW, TZ)
    assert needle in str(info.value)


def test_expires_today_and_a_year_less_a_day_are_accepted() -> None:
    """The limits themselves: today and the day before the same date next year."""
    actual = [check_expires(d, NOW, TZ) for d in (date(2026, 12, 21), date(2027, 12, 20))]
    assert actual == [date(2026, 12, 21), date(2027, 12, 20)]


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.integers(min_value=-400, max_value=800),
)
def test_accepted_expires_is_in_the_future_and_under_a_year(now: datetime, offset: int) -> None:
    """Whatever the moment, an accepted Expires lies after now and less than a year ahead."""
    expires = now.astimezone(TZ).date() + timedelta(days=offset)
    try:
        check_expires(expires, now, TZ)
    except ConfigError:
        accepted = False
    else:
        accepted = True
        moment = expires_moment(expires, TZ)
        assert now < moment
        assert moment - now < timedelta(days=366)
    today = now.astimezone(TZ).date()
    assert accepted == (today <= expires < one_year_after(today))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("policy_url", "http://gemeente.example/meldpunt"),
        ("canonical", "gemeente.example/.well-known/security.txt"),
        ("encryption", "ftp://gemeente.example/key"),
        ("policy_url", "https://gemeente.example/a b"),
    ],
)
def test_bad_url_is_an_error_naming_the_key(field: str, value: str) -> None:
    """Web resources must be https (RFC 9116 §3); the error names the key and the value."""
    config = SecurityTxtSettings(expires=date(2027, 6, 30), **{field: value})
    with pytest.raises(ConfigError) as info:
        render(config, ADDRESS, NOW, TZ)
    assert f"[security_txt] {field} {value!r}" in str(info.value)


def test_encryption_may_be_an_openpgp_fingerprint() -> None:
    """Encryption also takes the openpgp4fpr: form of RFC 9116 §2.5.4."""
    fpr = "openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f"
    config = SecurityTxtSettings(expires=date(2027, 6, 30), encryption=fpr)
    assert f"Encryption: {fpr}\n" in render(config, ADDRESS, NOW, TZ)


def test_expiry_warning_from_thirty_days_before() -> None:
    """status warns 30 days before Expires and after it, not 31 days before nor unset."""
    actual = {
        days: expiry_warning(NOW.date() + timedelta(days=days), NOW, TZ) for days in (31, 30, 0, -1)
    }
    assert actual[31] is None
    assert actual[30] == (
        "security.txt expires on 2027-01-20 (in 30 day(s)): set a later [security_txt] "
        "expires and regenerate it with `mailbot security-txt`"
    )
    assert actual[0] is not None and "(in 0 day(s))" in actual[0]
    assert actual[-1] is not None and actual[-1].startswith("security.txt expired on 2026-12-20")
    assert expiry_warning(None, NOW, TZ) is None


def _config(base: Path, section: str) -> Path:
    path = base / "config.toml"
    path.write_text(
        f"""
[identity]
address = "meldpunt@gemeente.example"
[mailbox]
path = "inbox"
[outbound]
path = "outbox"
[database]
path = "mailbot.db"
{section}
""",
        encoding="utf-8",
    )
    return path


def test_config_section_takes_a_date_or_a_string(tmp_path: Path) -> None:
    """[security_txt] expires is a TOML date or an ISO string; the other keys strings."""
    text = '[security_txt]\npolicy_url = "https://x.example/p"\nexpires = 2027-06-30\n'
    loaded = load(_config(tmp_path, text), env={}).security_txt
    assert loaded == SecurityTxtSettings(
        policy_url="https://x.example/p", expires=date(2027, 6, 30)
    )
    text = '[security_txt]\nexpires = "2027-06-30"\n'
    assert load(_config(tmp_path, text), env={}).security_txt.expires == date(2027, 6, 30)


def test_config_section_rejects_a_bad_date_and_unknown_keys(tmp_path: Path) -> None:
    """A malformed date and an unknown key are errors naming the key."""
    with pytest.raises(ConfigError, match=r"\[security_txt\] expires: expected an ISO date"):
        load(_config(tmp_path, '[security_txt]\nexpires = "30-06-2027"\n'), env={})
    with pytest.raises(ConfigError, match=r"unknown key \[security_txt\] contact"):
        load(_config(tmp_path, '[security_txt]\ncontact = "x"\n'), env={})


def _run(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`mailbot security-txt ARGS` on Monday 21 December 2026."""
    return factories.mailbot(
        cfg, "security-txt", *args, now="2026-12-21T10:05:00+01:00", check=False
    )


def test_cli_writes_the_file_world_readable(tmp_path: Path) -> None:
    """`security-txt --output FILE` writes the text with mode 0644; without, to stdout."""
    cfg = _config(tmp_path, "[security_txt]\nexpires = 2027-06-30\n")
    target = tmp_path / "security.txt"
    written = _run(cfg, "--output", str(target))
    printed = _run(cfg)
    assert (written.returncode, printed.returncode) == (0, 0), written.stderr + printed.stderr
    assert target.read_text(encoding="utf-8") == printed.stdout
    assert printed.stdout.startswith("Contact: mailto:meldpunt@gemeente.example\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_cli_without_expires_exits_2_naming_the_key(tmp_path: Path) -> None:
    """No [security_txt] expires: exit 2, the key named on stderr, nothing on stdout."""
    result = _run(_config(tmp_path, ""))
    assert (result.returncode, result.stdout) == (2, "")
    assert "[security_txt] expires is required" in result.stderr


FINGERPRINT = "E1E92795BCE4069815C3DEF3C0D4BE021B8FAEE0"


def test_encryption_from_the_key_fingerprint_when_not_configured() -> None:
    """Without [security_txt] encryption the [openpgp] key's fingerprint is published as
    openpgp4fpr: in lower-case hex (RFC 9116 §2.5.4's example), after Expires."""
    actual = render(SecurityTxtSettings(expires=date(2027, 1, 31)), ADDRESS, NOW, TZ, FINGERPRINT)
    expected = (
        "Contact: mailto:meldpunt@gemeente.example\n"
        "Expires: 2027-01-31T23:59:59+01:00\n"
        "Encryption: openpgp4fpr:e1e92795bce4069815c3def3c0d4be021b8faee0\n"
        "Preferred-Languages: nl, en\n"
    )
    assert actual == expected


def test_configured_encryption_wins_over_the_key_fingerprint() -> None:
    """[security_txt] encryption set: it is the one Encryption line."""
    url = "https://gemeente.example/pgp-key.txt"
    config = SecurityTxtSettings(expires=date(2027, 1, 31), encryption=url)
    lines = render(config, ADDRESS, NOW, TZ, FINGERPRINT).splitlines()
    assert [line for line in lines if line.startswith("Encryption:")] == [f"Encryption: {url}"]


@pytest.mark.parametrize(
    ("fingerprint", "expected"),
    [
        (
            "E1E9 2795 BCE4 0698 15C3  DEF3 C0D4 BE02 1B8F AEE0",
            f"openpgp4fpr:{FINGERPRINT.lower()}",
        ),
        ("AB" * 32, "openpgp4fpr:" + "ab" * 32),
    ],
)
def test_fingerprint_uri_of_v4_and_v6_fingerprints(fingerprint: str, expected: str) -> None:
    """A v4 (40 hex digits, also as gpg prints it with spaces) or v6 (64) fingerprint."""
    assert fingerprint_uri(fingerprint) == expected


@pytest.mark.parametrize("fingerprint", ["E1E92795", "G" * 40, FINGERPRINT + "00"])
def test_fingerprint_uri_refuses_what_is_no_fingerprint(fingerprint: str) -> None:
    """Too short, not hex, or of no key version's length: ValueError naming the value."""
    with pytest.raises(ValueError, match=f"not an OpenPGP fingerprint: {fingerprint!r}"):
        fingerprint_uri(fingerprint)
