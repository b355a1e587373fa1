"""Time of one build_mail call for an acknowledgement-sized mail, in µs.

    .venv/bin/python -m benchmarks.build_mail [COUNT]

Best of five runs of COUNT calls, for a plain ASCII subject and for one that must be
written as encoded words. The budget is 500 µs per mail; the email-package version of
build_mail took 1,500-1,800 µs on the same machine (about 140-180 µs now).
"""

from __future__ import annotations

import sys
import timeit
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.mail.rendering import Identity, Renderer, build_mail

IDENTITY = Identity("meldpunt@gemeente.example", "Meldpunt kwetsbaarheden", "Gemeente Voorbeeld")
CASE = {
    "id": "MK-2026-0042",
    "subject": "SQL-injectie op het inlogformulier",
    "reporter_name": "Jan de Vries",
    "received": "maandag 21 december 2026 om 10:00",
    "response_due": "dinsdag 29 december 2026 om 17:00",
}


def microseconds_per_mail(subject: str, body: str, count: int) -> float:
    """Best-of-five µs per build_mail of an acknowledgement with `subject` and `body`."""

    def one() -> None:
        build_mail(
            kind="acknowledgement",
            identity=IDENTITY,
            to=["jan@example.org"],
            subject=subject,
            body=body,
            message_id="mailbot.acknowledgement.MK-2026-0042.3f5a9c0e11d2b7a4c6e8@gemeente.example",
            date=datetime(2026, 12, 21, 10, 0, 3, tzinfo=ZoneInfo("Europe/Amsterdam")),
            case_id="MK-2026-0042",
            in_reply_to="CAF=x1@mail.example.org",
        )

    return min(timeit.repeat(one, number=count, repeat=5)) / count * 1e6


def main(count: int = 2000) -> None:
    """Print µs per build_mail, ASCII and encoded-word subject."""
    text = Renderer().render("acknowledgement", "nl", {"case": CASE, "identity": IDENTITY})
    print(f"body: {len(text.body.encode())} bytes, {text.body.count(chr(10))} lines")
    for label, subject in [
        ("ascii subject", text.subject),
        ("encoded subject", text.subject + " \u2013 \u201ccaf\u00e9\u201d \U0001f600"),
    ]:
        print(f"build_mail ({label}): {microseconds_per_mail(subject, text.body, count):.0f} µs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
