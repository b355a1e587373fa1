"""Phrases (pure data): every sentence mailbot writes into a mail outside its templates, in
Dutch and English, by key; `wording` fills them in (format fields as `str.format`).

Command words (`Status:`, `Close:`, `resolved`, `yes`, …), header names (From,
Message-ID), technical results (`dkim=pass`) and `mailbot` commands are the same in
both languages: staff type or search for them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from mailbot.core.phrases_known import KNOWN_PHRASES
from mailbot.core.phrases_pgp import PGP_PHRASES
from mailbot.core.phrases_triage import TRIAGE_PHRASES

_T = Mapping[str, str]

_GENERAL: dict[str, _T] = {
    "moment": {"nl": "{date} om {time}", "en": "{date} at {time}"},
    "bytes": {"nl": "{size:n} bytes", "en": "{size:n} bytes"},
    "none": {"nl": "(geen)", "en": "(none)"},
    "nothing": {"nl": "(niets)", "en": "(nothing)"},
    "empty": {"nl": "(leeg)", "en": "(empty)"},
    "unknown_sender": {"nl": "onbekende afzender", "en": "unknown sender"},
}

_DEADLINES: dict[str, _T] = {
    "deadline.received": {"nl": "ontvangen {day} {time}", "en": "received {day} {time}"},
    "deadline.from": {"nl": "vanaf {day} {time}", "en": "from {day} {time}"},
    "deadline.ontvangstdag": {"nl": "ontvangstdag {day}", "en": "ontvangstdag {day}"},
    "deadline.start_day": {"nl": "startdag {day}", "en": "start day {day}"},
    "deadline.closed": {"nl": "{day} gesloten ({why})", "en": "{day} closed ({why})"},
    "deadline.due": {"nl": "uiterlijk {day} {time}", "en": "due {day} {time}"},
    "deadline.after_cutoff": {"nl": "na sluitingstijd", "en": "after cutoff"},
    "deadline.resolve": {
        "nl": "ontvangen {day} {time} + {days} kalenderdagen → uiterlijk {end} {end_time}",
        "en": "received {day} {time} + {days} calendar days → due {end} {end_time}",
    },
}

_COMMANDS: dict[str, _T] = {
    "cmd.unreadable": {
        "nl": "{line} is niet als opdracht te lezen",
        "en": "Cannot read {line} as a command",
    },
    "cmd.unknown": {
        "nl": "Onbekende opdracht {key} (opdrachten: {known})",
        "en": "Unknown command {key} (commands: {known})",
    },
    "cmd.unknown_hint": {
        "nl": "Onbekende opdracht {key} — bedoelt u {close}? (opdrachten: {known})",
        "en": "Unknown command {key} — did you mean {close}? (commands: {known})",
    },
    "cmd.twice": {
        "nl": "{key} staat er twee keer in, met een andere waarde ({first} eerder)",
        "en": "{key} given twice ({first} before)",
    },
    "cmd.stray_internal": {
        "nl": "deze Internal:-regel staat onder de tekst en is daarom niet als opdracht "
        "gelezen. Zet hem bovenaan bij de andere opdrachten (uw mailprogramma heeft "
        "misschien een lange regel erboven afgebroken, of er onzichtbare tekens voor gezet)",
        "en": "this Internal: line is below the text, so it was not read as a command. Put it "
        "on top with the other commands (your mail program may have wrapped a long line above "
        "it, or put hidden characters before it)",
    },
    "cmd.not_one_of": {
        "nl": "{value} is niet een van: {allowed}",
        "en": "{value} is not one of: {allowed}",
    },
    "cmd.quoted": {"nl": "'{text}'", "en": "'{text}'"},
    "cmd.allowed_close": {
        "nl": "{status}; met Close: {close}",
        "en": "{status}; with Close: {close}",
    },
    "cmd.not_allowed": {
        "nl": "niet toegestaan vanuit {state} (toegestaan: {allowed})",
        "en": "not allowed from {state} (allowed: {allowed})",
    },
    "cmd.no_state": {"nl": "geen", "en": "none"},
    "cmd.status_and_close": {
        "nl": "Status en Close zetten allebei de status: gebruik er één",
        "en": "Status and Close both set the state",
    },
    "cmd.use_close": {
        "nl": "{word} sluit de zaak: gebruik Close: {word} <reden>",
        "en": "{word} closes the case: use Close: {word} <reason>",
    },
    "cmd.name_duplicate": {
        "nl": "noem eerst de andere zaak, bijvoorbeeld Close: duplicate {prefix}-2026-0001",
        "en": "name the other case first, e.g. Close: duplicate {prefix}-2026-0001",
    },
    "cmd.duplicate_self": {
        "nl": "{case} kan geen duplicaat van zichzelf zijn",
        "en": "{case} cannot be a duplicate of itself",
    },
    "cmd.no_such_case": {"nl": "zaak {case} bestaat niet", "en": "case {case} does not exist"},
    "cmd.reason_required": {
        "nl": "een reden is verplicht, bijvoorbeeld Close: {word} <reden>",
        "en": "a reason is required, e.g. Close: {word} <why>",
    },
    "cmd.not_address": {
        "nl": "{value} is geen e-mailadres",
        "en": "{value} is not an email address",
    },
    "cmd.not_staff": {
        "nl": "{address} staat niet op de lijst van medewerkers",
        "en": "{address} is not on the staff list",
    },
    "cmd.reporter_direct": {
        "nl": "de melder van een rechtstreekse melding is de afzender ({reporter}); Reporter "
        "is alleen voor doorgestuurde meldingen of meldingen zonder adres",
        "en": "a direct report's reporter is its sender ({reporter}); Reporter is only for "
        "relayed reports or reports without one",
    },
    "cmd.reporter_staff": {
        "nl": "{address} is een adres van een medewerker of van de doorsturende organisatie",
        "en": "{address} is a staff or relay address",
    },
    "cmd.note_empty": {"nl": "een notitie heeft tekst nodig", "en": "a note needs text"},
    "cmd.help_value": {"nl": "Help heeft geen waarde", "en": "Help takes no value"},
    "change": {"nl": "{field}: {old} → {new}", "en": "{field}: {old} → {new}"},
    "change.no_contact_cleared": {
        "nl": "{change}; kenmerk 'geen contactgegevens' verwijderd",
        "en": "{change}; no_contact cleared",
    },
    "applied.note": {"nl": "notitie: {text}", "en": "note: {text}"},
}

_WORDS: dict[str, _T] = {
    "field.state": {"nl": "status", "en": "state"},
    "field.close_reason": {"nl": "reden van sluiten", "en": "close_reason"},
    "field.assignee": {"nl": "behandelaar", "en": "assignee"},
    "field.severity": {"nl": "ernst", "en": "severity"},
    "field.reward": {"nl": "attentie", "en": "reward"},
    "field.waiting": {"nl": "wacht op melder", "en": "waiting"},
    "field.reporter_email": {"nl": "melder", "en": "reporter_email"},
    "flag.no_contact": {"nl": "geen contactgegevens", "en": "no contact details"},
    "flag.unreachable": {
        "nl": "melder onbereikbaar (mail kwam terug)",
        "en": "reporter unreachable (mail bounced)",
    },
    "flag.followup_after_close": {"nl": "bericht na sluiten", "en": "message after closing"},
    "flag.oversized": {
        "nl": "te groot, met de hand vrijgegeven",
        "en": "oversized, released by hand",
    },
    "status_mail.confirmed": {"nl": "bevestigd", "en": "confirmed"},
    "status_mail.resolved": {"nl": "opgelost", "en": "resolved"},
    "status_mail.rejected": {"nl": "afgehandeld", "en": "closed"},
    "status_mail.duplicate": {"nl": "al bekend", "en": "already known"},
    "status_mail.reward": {"nl": "attentie", "en": "token of thanks"},
    "kind.acknowledgement": {"nl": "ontvangstbevestiging", "en": "acknowledgement"},
    "kind.relay": {"nl": "doorgestuurd antwoord", "en": "relayed answer"},
    "kind.status": {"nl": "statusbericht", "en": "status mail"},
    "kind.staff_notice": {"nl": "melding aan medewerkers", "en": "staff notice"},
    "kind.followup_notice": {"nl": "nieuw bericht van de melder", "en": "follow-up notice"},
    "kind.unverified_notice": {"nl": "niet-geverifieerd bericht", "en": "unverified notice"},
    "kind.command_result": {"nl": "bevestiging van opdrachten", "en": "command result"},
    "kind.alert": {"nl": "waarschuwing", "en": "alert"},
    "kind.reminder": {"nl": "herinnering", "en": "reminder"},
    "kind.escalation": {"nl": "escalatie", "en": "escalation"},
    "kind.digest": {"nl": "dagoverzicht", "en": "daily digest"},
    "kind.closure_warning": {"nl": "waarschuwing sluitingsperiode", "en": "closure warning"},
}

_VERDICTS: dict[str, _T] = {
    "quarantine.too_large": {
        "nl": "te groot: {size:n} bytes, meer dan de grens van {limit:n} bytes",
        "en": "too large: {size} bytes > {limit}",
    },
    "quarantine.unparseable": {"nl": "onleesbaar: {error}", "en": "unparseable: {error}"},
    "unverified.staff": {
        "nl": "adres van een medewerker, maar niet geverifieerd: {why}",
        "en": "staff address not verified: {why}",
    },
    "unverified.relay": {
        "nl": "adres van een doorsturende organisatie, maar niet geverifieerd: {why}",
        "en": "relay address not verified: {why}",
    },
    "unverified.not_reporter": {
        "nl": "{sender} is niet de melder van {case}",
        "en": "{sender} is not the reporter of {case}",
    },
    "unverified.ambiguous": {
        "nl": "{ambiguous}: {sender} heeft geen zeggenschap over {case}",
        "en": "{ambiguous}: {sender} gets no say on {case}",
    },
    "ambiguous": {"nl": "afzender niet eenduidig ({parts})", "en": "ambiguous identity ({parts})"},
    "ambiguous.repeated": {"nl": "{header}-kopregel meer dan eens", "en": "repeated {header}"},
    "ambiguous.from_addresses": {
        "nl": "de From-kopregel noemt meer dan één adres",
        "en": "From names more than one address",
    },
    "ambiguous.header_block": {
        "nl": "kopregels niet te lezen zoals een mailserver ze leest",
        "en": "header block not read as an MTA reads it",
    },
}

_AUTHENTICATION: dict[str, _T] = {
    "auth.no_verdict": {
        "nl": "geen oordeel over de authenticatie van deze afzender",
        "en": "no authentication verdict for this sender",
    },
    "auth.no_trusted_ids": {
        "nl": "geen vertrouwde authserv-id ingesteld",
        "en": "no trusted authserv-id configured",
    },
    "auth.no_from": {"nl": "geen From-adres", "en": "no From address"},
    "auth.from_no_domain": {
        "nl": "From-adres {address} heeft geen domein",
        "en": "From address {address} has no domain",
    },
    "auth.no_header": {
        "nl": "geen Authentication-Results van een vertrouwde authserv-id",
        "en": "no Authentication-Results from a trusted authserv-id",
    },
    "auth.unreadable": {
        "nl": "onleesbare Authentication-Results van {who}: {error}",
        "en": "unreadable Authentication-Results from {who}: {error}",
    },
    "auth.unknown_id": {"nl": "een onbekende authserv-id", "en": "an unknown authserv-id"},
    "auth.too_many": {
        "nl": "geen vertrouwde Authentication-Results bij de bovenste {count}",
        "en": "no trusted Authentication-Results among the topmost {count}",
    },
    "auth.too_long_all": {
        "nl": "Authentication-Results samen langer dan {limit:n} tekens",
        "en": "Authentication-Results longer than {limit} characters in all",
    },
    "auth.too_long": {"nl": "langer dan {limit:n} tekens", "en": "longer than {limit} characters"},
    "auth.pass": {"nl": "{note} van {where}", "en": "{note} from {where}"},
    "auth.no_results": {"nl": "geen resultaten ({where})", "en": "no results ({where})"},
    "auth.fail": {"nl": "{notes:; } ({where})", "en": "{notes:; } ({where})"},
    "auth.dmarc_no_from": {
        "nl": "dmarc=pass zonder header.from",
        "en": "dmarc=pass without header.from",
    },
    "auth.dmarc_other": {
        "nl": "dmarc=pass voor header.from={named}, niet {domain}",
        "en": "dmarc=pass for header.from={named}, not {domain}",
    },
    "auth.dkim_result_for": {
        "nl": "dkim={result} voor d={signer}",
        "en": "dkim={result} for d={signer}",
    },
    "auth.dkim_no_d": {"nl": "dkim=pass zonder header.d", "en": "dkim=pass without header.d"},
    "auth.dkim_unaligned": {
        "nl": "dkim=pass voor d={signer}, niet in lijn met {domain}",
        "en": "dkim=pass for d={signer}, not aligned with {domain}",
    },
}

_ALERTS: dict[str, _T] = {
    "alert.from": {"nl": "Van: {value}", "en": "From: {value}"},
    "alert.to": {"nl": "Aan: {value}", "en": "To: {value}"},
    "alert.subject": {"nl": "Onderwerp: {value}", "en": "Subject: {value}"},
    "alert.message_id": {"nl": "Message-ID: {value}", "en": "Message-ID: {value}"},
    "alert.received": {"nl": "Ontvangen: {value}", "en": "Received: {value}"},
    "alert.size": {
        "nl": "Grootte: {size:n} bytes, sha256 {sha}",
        "en": "Size: {size} bytes, sha256 {sha}",
    },
    "alert.release": {
        "nl": "Om het toch te verwerken (als het een echte melding is): {command}",
        "en": "To process it anyway (a genuine report): {command}",
    },
    "alert.handled_as": {"nl": "Behandeld als: {disposition}", "en": "Handled as: {disposition}"},
    "alert.sha256": {"nl": "sha256: {value}", "en": "sha256: {value}"},
    "alert.see": {"nl": "Zie: {command}", "en": "See: {command}"},
    "alert.address": {"nl": "Adres: {value}", "en": "Address: {value}"},
    "alert.day": {"nl": "Dag: {value}", "en": "Day: {value}"},
    "flood.reason": {
        "nl": "{address} heeft de grens van {cap} automatische mails per 24 uur bereikt; "
        "meldingen van dit adres worden nog steeds als zaak vastgelegd, maar krijgen geen "
        "ontvangstbevestiging tot er weer ruimte is",
        "en": "{address} reached the cap of {cap} automatic mails in 24 hours; its reports are "
        "still recorded as cases, but get no acknowledgement until the cap frees up",
    },
    "collision.reason": {
        "nl": "Message-ID <{message_id}> is eerder gebruikt {why}",
        "en": "Message-ID <{message_id}> was used before by {why}",
    },
    "collision.other_sender": {"nl": "door een andere afzender", "en": "another sender"},
    "collision.other_content": {
        "nl": "voor een bericht met andere inhoud",
        "en": "different content",
    },
    "collision.either": {
        "nl": "Message-ID <{message_id}> is eerder gebruikt, door een andere afzender of voor "
        "een bericht met andere inhoud",
        "en": "Message-ID <{message_id}> was used before by another sender or for different "
        "content",
    },
    "bounce.reason": {
        "nl": "teruggekomen: afleverbericht <{ref}>",
        "en": "bounced: delivery report <{ref}>",
    },
    "bounce.mail": {"nl": "{kind} <{message_id}> aan {to}", "en": "{kind} <{message_id}> to {to}"},
    "bounce.report": {
        "nl": "Afleverbericht van {sender}: {subject}",
        "en": "Delivery report from {sender}: {subject}",
    },
    "delivery.failed": {
        "nl": "De mail ({kind}) kon niet worden bezorgd. De mailserver meldde: {error}",
        "en": "The mail ({kind}) could not be delivered. The mail server said: {error}",
    },
    "delivery.gave_up": {
        "nl": "opgegeven na {attempts} pogingen: {error}",
        "en": "gave up after {attempts} attempts: {error}",
    },
}

PHRASES: Mapping[str, _T] = {
    **_GENERAL,
    **_DEADLINES,
    **_COMMANDS,
    **_WORDS,
    **_VERDICTS,
    **_AUTHENTICATION,
    **_ALERTS,
    **PGP_PHRASES,
    **TRIAGE_PHRASES,
    **KNOWN_PHRASES,
}
"""Every phrase by key, then language ("nl", "en")."""

HELP: Mapping[str, tuple[tuple[str, str], ...]] = {
    "nl": (
        (
            "Status: acknowledged|investigating|confirmed",
            "de zaak verplaatsen; op een gesloten zaak heropent `Status: investigating` hem",
        ),
        ("Close: resolved|closed|rejected|spam <reden>", "de zaak sluiten; een reden is verplicht"),
        ("Close: duplicate <zaaknummer> [tekst]", "sluiten als duplicaat van een andere zaak"),
        ("Assign: <adres medewerker>|none", "behandelaar instellen of wissen (alleen medewerkers)"),
        ("Severity: low|medium|high|critical", "de ernst instellen"),
        (
            "Reward: undecided|yes|no|sent",
            "de attentie bijhouden; `yes` stuurt de melder een bedankje",
        ),
        (
            "Reporter: <adres>",
            "de melder instellen bij een doorgestuurde melding of een melding zonder "
            "contactgegevens; de melder krijgt dan de ontvangstbevestiging",
        ),
        (
            "Key: <sleutelblok>|<vingerafdruk>|none",
            "mail aan de melder voortaan versleutelen naar deze publieke sleutel (het blok op "
            "de regels eronder, of de vingerafdruk van een al bekende sleutel); none: niet meer",
        ),
        (
            "Reply: <bekende bevinding>",
            "het standaardantwoord van die bevinding ([triage] known_findings) naar de melder "
            "sturen, met uw tekst eronder als u die schrijft; samen met Close: mag",
        ),
        ("Internal: yes|no", "yes: niets van deze mail gaat naar de melder"),
        ("Waiting: yes|no", "wachten op de melder (de termijn voor voortgangsberichten pauzeert)"),
        ("Note: <tekst>", "een interne notitie bij de zaak, gaat nooit naar de melder"),
        ("Help", "dit overzicht"),
    ),
    "en": (
        (
            "Status: acknowledged|investigating|confirmed",
            "move the case; on a closed case `Status: investigating` reopens it",
        ),
        ("Close: resolved|closed|rejected|spam <reason>", "close the case; a reason is required"),
        ("Close: duplicate <case id> [text]", "close as a duplicate of another existing case"),
        ("Assign: <staff address>|none", "set or clear the assignee (staff addresses only)"),
        ("Severity: low|medium|high|critical", "set the severity"),
        ("Reward: undecided|yes|no|sent", "track the reward; `yes` sends the reporter a thank-you"),
        (
            "Reporter: <address>",
            "set the reporter of a relayed report or a report without "
            "contact; the reporter then gets the acknowledgement",
        ),
        (
            "Key: <key block>|<fingerprint>|none",
            "encrypt mail to the reporter to this public key from now on (the block on the "
            "lines below, or the fingerprint of a key already known); none: stop encrypting",
        ),
        (
            "Reply: <known finding>",
            "send that finding's reply ([triage] known_findings) to the reporter, with your "
            "text below it if you write any; may go with Close:",
        ),
        ("Internal: yes|no", "yes: nothing of this mail is sent to the reporter"),
        ("Waiting: yes|no", "waiting for the reporter (pauses the update clock)"),
        ("Note: <text>", "an internal note on the case, never sent to the reporter"),
        ("Help", "this list"),
    ),
}
"""The command list of the Help mail by language: (syntax, explanation)."""
