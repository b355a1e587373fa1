"""What a message's `crypto_note` says, in the staff's language (pure).

A note is a "; "-separated list of "code" or "code: detail" items (see
`mailbot.mail.pgp_reading`); details are fingerprints, numbers and the library's own
words. Each known code is one sentence here, in Dutch and English; an unknown one is
shown as it is.
"""

from __future__ import annotations

import re

_SENTENCES: dict[str, tuple[str, str]] = {
    "pgp_mime": (
        "Versleuteld ontvangen (OpenPGP, PGP/MIME).",
        "Received encrypted (OpenPGP, PGP/MIME).",
    ),
    "pgp_inline": (
        "Versleuteld ontvangen (OpenPGP, als blok in de tekst).",
        "Received encrypted (OpenPGP, as a block in the text).",
    ),
    "smime": (
        "Versleuteld ontvangen (S/MIME). Mailbot ontsleutelt alleen OpenPGP: de inhoud is"
        " hier niet te lezen; het oorspronkelijke bericht staat bij de zaak.",
        "Received encrypted (S/MIME). mailbot decrypts OpenPGP only: the content cannot be"
        " read here; the original message is kept with the case.",
    ),
    "decrypted": (
        "Ontsleuteld met de sleutel van het meldpunt: de tekst hieronder is ontsleuteld.",
        "Decrypted with the meldpunt's key: the text below is the decrypted text.",
    ),
    "no_key": (
        "Niet ontsleuteld: er is geen geheime sleutel ingesteld ([openpgp] secret_key_file).",
        "Not decrypted: no secret key is configured ([openpgp] secret_key_file).",
    ),
    "not_for_us": (
        "Niet ontsleuteld: versleuteld voor een andere sleutel dan die van het meldpunt"
        " ({detail}).",
        "Not decrypted: encrypted to another key than the meldpunt's ({detail}).",
    ),
    "damaged": (
        "Niet ontsleuteld: het versleutelde bericht is beschadigd ({detail}).",
        "Not decrypted: the encrypted message is damaged ({detail}).",
    ),
    "too_large": (
        "Niet ontsleuteld: uitgepakt groter dan {detail} bytes (mogelijk een compressiebom).",
        "Not decrypted: larger than {detail} bytes once decompressed (possibly a"
        " compression bomb).",
    ),
    "too_slow": (
        "Niet ontsleuteld: het ontsleutelen duurde langer dan {detail} seconden.",
        "Not decrypted: decrypting took longer than {detail} seconds.",
    ),
    "failed": ("Niet ontsleuteld ({detail}).", "Not decrypted ({detail})."),
    "not_encrypted": (
        "Niet ontsleuteld: het bericht zegt versleuteld te zijn, maar bevat geen versleutelde"
        " OpenPGP-gegevens ({detail}).",
        "Not decrypted: the message says it is encrypted but holds no encrypted OpenPGP"
        " data ({detail}).",
    ),
    "signature_valid": (
        "Ondertekend: de handtekening klopt met sleutel {detail}, die in het bericht zelf"
        " meekwam. Dat zegt niets over wie de afzender is en geeft geen rechten.",
        "Signed: the signature verifies with key {detail}, which came in the message"
        " itself. That says nothing about who the sender is and grants no rights.",
    ),
    "signature_bad": (
        "Ondertekend, maar de handtekening klopt niet met de meegestuurde sleutel ({detail}).",
        "Signed, but the signature does not verify with the key that came with it ({detail}).",
    ),
    "signature_unknown_key": (
        "Ondertekend met sleutel {detail}; die sleutel zat niet in het bericht, dus de"
        " handtekening is niet gecontroleerd.",
        "Signed with key {detail}; that key was not in the message, so the signature was"
        " not checked.",
    ),
    "signature_unchecked": (
        "Ondertekend; de handtekening kon niet worden gecontroleerd ({detail}).",
        "Signed; the signature could not be checked ({detail}).",
    ),
    "key_refused": (
        "Een meegestuurde sleutel is niet gebruikt: {detail}.",
        "A key that came with the message was not used: {detail}.",
    ),
    "key_used": (
        "De sleutel van de melder ({detail}) is bij de zaak bewaard: mail aan de melder"
        " wordt daarmee versleuteld.",
        "The reporter's key ({detail}) is kept with the case: mail to the reporter is"
        " encrypted with it.",
    ),
}
#: Why a key was refused ("key_refused: <reason> <value>").
_REASONS: dict[str, tuple[str, str]] = {
    "user_ids": ("{value} gebruikers-ID's (meer dan 100)", "{value} user IDs (more than 100)"),
    "revoked": ("ingetrokken", "revoked"),
    "expired": ("verlopen op {value}", "expired on {value}"),
    "secret_key": ("een geheime sleutel, geen publieke", "a secret key, not a public one"),
    "too_large": ("te groot", "too large"),
    "unreadable": ("onleesbaar", "unreadable"),
    "other_address": (
        "de sleutel noemt het adres van de melder niet",
        "the key does not name the reporter's address",
    ),
    "no_encryption": ("de sleutel kan niet versleutelen", "the key cannot encrypt"),
}
_EXPIRED = re.compile(r"expired ([0-9]{4}-[0-9]{2}-[0-9]{2})")
_USER_IDS = re.compile(r"([0-9]+) user IDs")


def describe(note: str, language: str) -> list[str]:
    """The sentences of `note` in `language` ("en", else Dutch), one per item."""
    english = language.lower().startswith("en")
    lines = []
    for item in note.split("; "):
        code, _, detail = item.partition(": ")
        if code == "key_refused":
            detail = _reason(detail, english)
        pair = _SENTENCES.get(code.strip())
        if pair is None:
            lines.append(item)
            continue
        sentence = pair[english]
        if not detail:
            sentence = sentence.replace(" ({detail})", "")
        lines.append(sentence.replace("{detail}", detail))
    return [line for line in lines if line]


def refusal(reason: str) -> str:
    """The "<reason> <value>" of a key refusal, from `pgp_data.key_problem`'s or
    `openpgp.load_public_key`'s English reason."""
    if "revoked" in reason:
        return "revoked"
    if (found := _EXPIRED.search(reason)) is not None:
        return f"expired {found.group(1)}"
    if (found := _USER_IDS.search(reason)) is not None:
        return f"user_ids {found.group(1)}"
    for code, words in (("secret_key", "secret key"), ("too_large", "too large")):
        if words in reason:
            return code
    return reason if reason in _REASONS else "unreadable"


def _reason(detail: str, english: bool) -> str:
    """A key refusal's reason in words."""
    code, _, value = detail.partition(" ")
    pair = _REASONS.get(code)
    return pair[english].replace("{value}", value) if pair else detail
