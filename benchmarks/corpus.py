"""Mixed messages shaped like real reports (for the throughput benchmarks)."""

from __future__ import annotations

import base64
import random
from email.message import EmailMessage

NL_BODY = (
    "Goedendag,\n\nIk heb een kwetsbaarheid gevonden op https://{host}/login?next=%2F.\n"
    "De parameter wordt niet gecontroleerd waardoor een aanvaller script kan uitvoeren.\n"
    "Het systeem draait op 203.0.113.{n}. U kunt mij bereiken op 06-1234{n:04d}.\n\n"
    "Met vriendelijke groet,\nMelder {n}\n"
)
EN_BODY = (
    "Hello,\n\nThe server {host} exposes its .git directory; see https://{host}/.git/config.\n"
    "I only requested that one file. Kind regards,\nResearcher {n}\n"
)


def message(n: int, rng: random.Random) -> bytes:
    """Message number `n`: plain, multipart/alternative, HTML-only, attachments, auto-replies."""
    msg = EmailMessage()
    host = f"portal{n % 97}.gemeente.example"
    msg["From"] = f"Melder {n} <melder{n % 400}@example{n % 13}.nl>"
    msg["To"] = "meldpunt@gemeente.example"
    msg["Message-ID"] = f"<bench-{n}@example.nl>"
    msg["Subject"] = f"Kwetsbaarheid {n} in {host}"
    kind = rng.random()
    body = (NL_BODY if n % 3 else EN_BODY).format(host=host, n=n % 10000)
    if kind < 0.05:
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content("Ik ben afwezig.")
    elif kind < 0.35:
        msg.set_content(body)
        msg.add_alternative(
            f"<html><body><p>{body}</p><script>x()</script></body></html>", subtype="html"
        )
    elif kind < 0.45:
        msg.set_content(f"<html><body><h1>Melding</h1><p>{body}</p></body></html>", subtype="html")
    else:
        msg.set_content(body)
    if rng.random() < 0.05:
        payload = rng.randbytes(200 * 1024)
        msg.add_attachment(
            payload, maintype="application", subtype="pdf", filename=f"bewijs-{n}.pdf"
        )
    elif rng.random() < 0.15:
        msg.add_attachment(
            base64.b64encode(rng.randbytes(3000)),
            maintype="image",
            subtype="png",
            filename="screenshot.png",
        )
    return bytes(msg)


def corpus(count: int, seed: int = 42) -> list[bytes]:
    """`count` mixed messages, the same for the same seed."""
    rng = random.Random(seed)
    return [message(n, rng) for n in range(count)]
