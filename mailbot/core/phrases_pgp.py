"""Phrases of encrypted mail to reporters and of the `Key:` command (pure data), registered
in `phrases.PHRASES`: why a key is refused, what the result mail says about encryption,
and the alert when a mail to a reporter could not be encrypted.

Fingerprints are shown as upper-case hex without spaces, as `gpg --fingerprint` can be
searched for; `Key:`, `none` and the armour lines are the same in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping

_T = Mapping[str, str]

_KEY_COMMAND: dict[str, _T] = {
    "cmd.key_missing": {
        "nl": "Key: heeft een waarde nodig: het publieke sleutelblok van de melder op de "
        "regels eronder (-----BEGIN PGP PUBLIC KEY BLOCK----- tot en met -----END PGP PUBLIC "
        "KEY BLOCK-----), de vingerafdruk van een al bekende sleutel, of none",
        "en": "Key: needs a value: the reporter's public key block on the lines below "
        "(-----BEGIN PGP PUBLIC KEY BLOCK----- up to -----END PGP PUBLIC KEY BLOCK-----), the "
        "fingerprint of a key already known, or none",
    },
    "cmd.key_no_end": {
        "nl": "het sleutelblok eindigt niet met een regel -----END PGP PUBLIC KEY BLOCK-----",
        "en": "the key block has no -----END PGP PUBLIC KEY BLOCK----- line",
    },
    "cmd.key_not_fingerprint": {
        "nl": "{value} is geen vingerafdruk (40 of 64 hexadecimale tekens), geen sleutelblok "
        "en geen none",
        "en": "{value} is not a fingerprint (40 or 64 hex digits), a key block or none",
    },
    "cmd.key_unknown": {
        "nl": "geen bekende sleutel heeft vingerafdruk {fingerprint} (sleutel van de zaak nu: "
        "{current}); plak het sleutelblok onder Key:, of voeg het sleutelbestand bij deze mail",
        "en": "no known key has fingerprint {fingerprint} (the case's key now: {current}); "
        "paste the key block below Key:, or attach the key file to this mail",
    },
    "key.too_large": {
        "nl": "{size:n} bytes is te groot voor een publieke sleutel (hoogstens {limit:n})",
        "en": "{size} bytes is too large for a public key (at most {limit})",
    },
    "key.not_a_key": {
        "nl": "geen OpenPGP publieke sleutel ({error})",
        "en": "not an OpenPGP public key ({error})",
    },
    "key.secret": {
        "nl": "dit is een geheime sleutel; geef alleen de publieke sleutel van de melder",
        "en": "this is a secret key; give the reporter's public key only",
    },
    "key.too_many_ids": {
        "nl": "sleutel {fingerprint} heeft {count:n} gebruikers-ID's (hoogstens {limit:n})",
        "en": "key {fingerprint} has {count} user IDs (at most {limit})",
    },
    "key.revoked": {
        "nl": "sleutel {fingerprint} is ingetrokken",
        "en": "key {fingerprint} is revoked",
    },
    "key.expired": {
        "nl": "sleutel {fingerprint} is verlopen op {date}",
        "en": "key {fingerprint} expired on {date}",
    },
    "key.no_encryption": {
        "nl": "sleutel {fingerprint} heeft geen bruikbare sleutel om naar te versleutelen "
        "({error})",
        "en": "key {fingerprint} has no usable encryption subkey ({error})",
    },
    "key.unusable": {
        "nl": "sleutel {fingerprint} is niet te gebruiken ({error})",
        "en": "key {fingerprint} cannot be used ({error})",
    },
    "field.reporter_key": {"nl": "sleutel van de melder", "en": "reporter key"},
}

_SENDING: dict[str, _T] = {
    "pgp.too_large": {
        "nl": "de mail is {size:n} bytes, meer dan de {limit:n} bytes die mailbot versleutelt",
        "en": "the mail is {size} bytes, more than the {limit} bytes mailbot encrypts",
    },
    "pgp.failed": {"nl": "versleutelen mislukt ({error})", "en": "encryption failed ({error})"},
    "pgp.encrypted": {
        "nl": "{kind}: versleuteld naar sleutel {fingerprint} en ondertekend met de sleutel "
        "van het meldpunt ({signer})",
        "en": "{kind}: encrypted to key {fingerprint} and signed with the meldpunt's key "
        "({signer})",
    },
    "pgp.unsigned": {
        "nl": "{kind}: versleuteld naar sleutel {fingerprint}, maar niet ondertekend: er is "
        "geen sleutel van het meldpunt ingesteld ([openpgp] secret_key_file)",
        "en": "{kind}: encrypted to key {fingerprint}, but not signed: no meldpunt key is "
        "configured ([openpgp] secret_key_file)",
    },
    "pgp.plain": {
        "nl": "{kind}: niet versleuteld, van de melder is geen sleutel bekend",
        "en": "{kind}: not encrypted, no key of the reporter is known",
    },
    "pgp.refused": {
        "nl": "{kind}: NIET verstuurd, want de sleutel van de melder is niet te gebruiken: "
        "{why}. Onversleuteld versturen doet mailbot niet. Stuur Key: met een nieuwe sleutel, "
        "of Key: none om voortaan onversleuteld te antwoorden, en stuur uw tekst opnieuw",
        "en": "{kind}: NOT sent, the reporter's key cannot be used: {why}. mailbot does not "
        "send it unencrypted instead. Send Key: with a new key, or Key: none to answer "
        "unencrypted from now on, and send your text again",
    },
    "pgp.alert_title": {
        "nl": "Niet verstuurd: versleutelen mislukt",
        "en": "Not sent: encryption failed",
    },
    "pgp.alert_reason": {
        "nl": "De {kind} aan de melder van {case} is NIET verstuurd: de sleutel van de melder "
        "is niet te gebruiken: {why}. De melder vroeg om versleuteling door een sleutel mee te "
        "sturen; onversleuteld versturen doet mailbot daarom niet. Antwoord op deze zaak met "
        "Key: en een nieuwe sleutel, of met Key: none om voortaan onversleuteld te antwoorden "
        "(is de ontvangstbevestiging nog niet verstuurd, dan gaat die alsnog uit).",
        "en": "The {kind} to the reporter of {case} was NOT sent: the reporter's key cannot be "
        "used: {why}. The reporter asked for encryption by giving a key, so mailbot does not "
        "send it unencrypted. Answer on this case with Key: and a new key, or with Key: none "
        "to answer unencrypted from now on (an acknowledgement not yet sent then goes out).",
    },
}

_FLAGS: dict[str, _T] = {
    "flag.encrypted": {"nl": "versleuteld ontvangen", "en": "received encrypted"},
    "flag.decrypted": {"nl": "ontsleuteld", "en": "decrypted"},
    "flag.signed_valid": {
        "nl": "geldige handtekening (sleutel uit het bericht zelf)",
        "en": "valid signature (key from the message itself)",
    },
}

PGP_PHRASES: Mapping[str, _T] = {**_KEY_COMMAND, **_SENDING, **_FLAGS}
"""The phrases of this module by key, then language."""
