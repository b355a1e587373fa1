"""`mailbot openpgp export-public`, the `openpgp` line of `mailbot check` and the key's
fingerprint for `mailbot security-txt`: each loads the [openpgp] key (mailbot.shell.keys)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from datetime import datetime

from mailbot.core.config import Settings
from mailbot.core.errors import MailbotError, UserError
from mailbot.core.models import InboundMessage
from mailbot.mail.openpgp import MeldpuntKey
from mailbot.shell.clock import SystemClock
from mailbot.shell.keys import load_key


def command(args: argparse.Namespace, settings: Settings) -> int:
    """`openpgp export-public`: the armoured public key on stdout (for the website)."""
    if args.openpgp_command != "export-public":  # pragma: no cover - argparse allows no other
        raise UserError(f"unknown action openpgp {args.openpgp_command}")
    key = _configured(settings)
    armor = key.public_armor
    sys.stdout.write(armor if armor.endswith("\n") else armor + "\n")
    return 0


def check_lines(settings: Settings) -> list[str]:
    """What `mailbot check` says of [openpgp]; ConfigError when the key cannot be used."""
    key = load_key(settings.openpgp, SystemClock().now())
    if key is None:
        return ["no [openpgp] secret_key_file: encrypted reports are flagged, not decrypted"]
    expires = _expiry(key)
    until = f"; expires {expires}" if expires else ""
    return [f"secret key {key.fingerprint} loaded (decrypts, signs{until})"]


def key_fingerprint(settings: Settings, now: datetime) -> str:
    """The fingerprint of the [openpgp] key for security.txt's Encryption, "" without one."""
    key = load_key(settings.openpgp, now)
    return key.fingerprint if key is not None else ""


def _configured(settings: Settings) -> MeldpuntKey:
    key = load_key(settings.openpgp, SystemClock().now())
    if key is None:
        raise UserError(f"no [openpgp] secret_key_file in {settings.source}: no key to export")
    return key


def _expiry(key: MeldpuntKey) -> str:
    """The key's expiry date (UTC) as YYYY-MM-DD, "" when it does not expire."""
    from pysequoia import Cert  # noqa: PLC0415 - the library loads when a key is used

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expires = Cert.from_bytes(key.public_armor.encode("ascii")).expiration
    return f"{expires:%Y-%m-%d}" if expires is not None else ""


def reader(settings: Settings) -> Callable[[bytes, datetime], InboundMessage]:
    """How `case show` and `message show` read a stored inbound message: as intake reads it,
    with the [openpgp] key (an encrypted report shown decrypted) when one is configured and
    this user can read it; else parsed as it came (one line on stderr says why)."""
    from mailbot.mail.parsing import parse  # noqa: PLC0415 - only these commands read text

    if settings.openpgp.secret_key_file is None:
        return parse
    try:
        key = load_key(settings.openpgp, SystemClock().now())
    except MailbotError as exc:
        print(f"mailbot: encrypted reports are shown as they came: {exc}", file=sys.stderr)
        return parse
    from mailbot.shell.recording import read_message  # noqa: PLC0415

    limit = settings.limits.max_message_bytes
    return lambda raw, at: read_message(raw, at, key, limit)[0]
