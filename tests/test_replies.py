"""Tests of reply splitting (DESIGN.md §6): the staff text above the history, no signature."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import replies
from mailbot.core.commands import split_commands
from mailbot.core.replies import MAX_LIBRARY_CHARS, ReplyParts, split_reply

DATA = Path(__file__).parent / "data" / "replies"


def fixture(name: str) -> str:
    """The body of fixture mail `name`."""
    return (DATA / name).read_text(encoding="utf-8")


#: (fixture, exact text, first line of the signature, first line of the quoted history,
#:  words of the signature that must not be in the text)
LAYOUTS = [
    (
        "outlook_nl.txt",
        "Beste melder,\n\nDank voor uw melding. We hebben het lek in het parkeerportaal bevestigd"
        " en de leverancier gevraagd het deze week te verhelpen.",
        "Met vriendelijke groet,",
        "________________________________",
        ["Jan de Vries", "030 123 4567", "06 1234 5678", "j.devries"],
    ),
    (
        "outlook_nl_html.txt",
        "Beste melder,\n\nWij hebben de volgende maatregelen genomen:\n\n"
        "- de testomgeving is offline gehaald;\n- alle sessies zijn ongeldig gemaakt.",
        "Met vriendelijke groet,",
        "**Van:** Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl>",
        ["Jan de Vries", "030 123 4567"],
    ),
    (
        "outlook_nl_oorspronkelijk.txt",
        "Goedemiddag,\n\nDe kwetsbaarheid is inmiddels verholpen. Kunt u bevestigen dat het "
        "probleem niet meer optreedt?",
        "Groeten,",
        "-----Oorspronkelijk bericht-----",
        ["Petra Jansen", "06-98765432", "CISO"],
    ),
    (
        "outlook_en.txt",
        "Hello,\n\nThank you for your report. We have reproduced the issue and a fix is "
        "scheduled for Thursday.",
        "Kind regards,",
        "From: Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl>",
        ["Jan de Vries", "+31 30 123 4567"],
    ),
    (
        "outlook_en_original.txt",
        "We could not reproduce this on the current version. Could you send the exact URL you "
        "used?",
        "",
        "-----Original Message-----",
        [],
    ),
    (
        "gmail_nl.txt",
        "Hallo,\n\nWe hebben de melding doorgezet naar de leverancier van het zaaksysteem. U hoort "
        "binnen twee weken meer.",
        "--",
        "Op ma 21 dec 2026 om 10:00 schreef Meldpunt Kwetsbaarheden <",
        ["Karin Bakker", "06 11223344"],
    ),
    (
        "gmail_en.txt",
        "Thanks for the details. We are looking into it and will get back to you before Friday.",
        "--",
        "On Mon, 21 Dec 2026 at 10:00, Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl> wrote:",
        ["Karin Bakker", "+31 6 11223344"],
    ),
    (
        "gmail_en_wrapped.txt",
        "Hi,\n\nConfirmed, this affects the public booking site. Please keep the details private "
        "until we publish a fix:\n\n    GET /booking?id=1' OR '1'='1",
        "Best regards,",
        "On Mon, Dec 21, 2026 at 10:00 AM Meldpunt Kwetsbaarheden <",
        ["Karin Bakker", "+31 6 11223344"],
    ),
    (
        "apple_nl.txt",
        "Beste melder,\n\nHet probleem is verholpen in de versie die vanochtend live is gegaan. "
        "Hartelijk dank voor het melden.",
        "Met vriendelijke groet,",
        "Op 21 dec. 2026, om 10:00 heeft Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl> het "
        "volgende geschreven:",
        ["Ahmed El Amrani", "06 55667788"],
    ),
    (
        "apple_en.txt",
        "The affected server has been taken offline while we investigate.",
        "Kind regards,",
        "On 21 Dec 2026, at 10:00, Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl> wrote:",
        ["Ahmed El Amrani", "+31 6 55667788"],
    ),
    (
        "iphone_nl.txt",
        "Dank, we kijken er vandaag naar.",
        "Verzonden vanaf mijn iPhone",
        "Op 21 dec. 2026 om 10:00 heeft Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl> het "
        "volgende geschreven:",
        ["iPhone"],
    ),
    (
        "iphone_nl_verstuurd.txt",
        "Prima, ik pak hem morgen op.",
        "Verstuurd vanaf mijn iPhone",
        "> Op 21 dec. 2026 om 10:00 heeft Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl> het "
        "volgende geschreven:",
        ["iPhone"],
    ),
    (
        "iphone_en.txt",
        "Thanks, we will look at it today.",
        "Sent from my iPhone",
        "On 21 Dec 2026, at 10:00, Meldpunt Kwetsbaarheden <meldpunt@voorbeeld.nl> wrote:",
        ["iPhone"],
    ),
    (
        "plain_quote.txt",
        "We hebben een tijdelijke maatregel genomen: de betreffende pagina is offline.",
        "",
        "> Er is een nieuwe melding binnengekomen.",
        [],
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "signature", "quoted", "private"), LAYOUTS, ids=[x[0] for x in LAYOUTS]
)
def test_real_layouts(
    name: str, text: str, signature: str, quoted: str, private: list[str]
) -> None:
    """Each client layout yields exactly the staff text; signature and history are apart."""
    parts = split_reply(fixture(name))
    assert parts.text == text
    assert parts.signature.split("\n")[0] == signature
    assert parts.quoted.split("\n")[0] == quoted
    assert [word for word in private if word in parts.text] == []
    assert [word for word in private if word not in parts.signature] == []
    assert parts.fallback_reason == ""


@pytest.mark.parametrize("name", [x[0] for x in LAYOUTS])
def test_no_quoted_words_in_text(name: str) -> None:
    """Nothing of the bot's quoted mail (its address, its sentences) is ever in the text."""
    parts = split_reply(fixture(name))
    assert [
        w
        for w in ("meldpunt@", "Meldpunt", "melding binnengekomen", "new report")
        if w in parts.text
    ] == []


def test_crlf_and_trailing_blanks() -> None:
    """CRLF line ends and trailing blanks are normalised away."""
    parts = split_reply(fixture("gmail_en.txt").replace("\n", "\r\n").replace(".", ".  ", 1))
    assert parts.text == (
        "Thanks for the details.   We are looking into it and will get back to you before Friday."
    )


# --- each extra rule on its own (the library alone gets these wrong) -------------------------


@pytest.mark.parametrize(
    "attribution",
    [
        "Op ma 21 dec 2026 om 10:00 schreef Meldpunt <meldpunt@voorbeeld.nl>:",
        "Op ma 21 dec 2026 om 10:00 schreef Meldpunt Kwetsbaarheden <\nmeldpunt@voorbeeld.nl>:",
        "Op 21 dec. 2026, om 10:00 heeft Meldpunt <meldpunt@voorbeeld.nl> het volgende geschreven:",
        "Op 21 dec. 2026 om 10:00 heeft Meldpunt Kwetsbaarheden\n<meldpunt@voorbeeld.nl> het\n"
        "volgende geschreven:",
    ],
)
def test_dutch_attribution_without_signature(attribution: str) -> None:
    """A Dutch Gmail/Apple attribution ends the text even with no signature above it."""
    parts = split_reply(f"Graag gedaan.\n\n{attribution}\n\ngeheime melding\n")
    assert (parts.text, parts.quoted) == ("Graag gedaan.", f"{attribution}\n\ngeheime melding")


def test_oorspronkelijk_bericht_without_signature() -> None:
    """Outlook's Dutch separator line does not end up in the text."""
    body = "Verholpen.\n-----Oorspronkelijk bericht-----\nVan: Meldpunt\nVerzonden: ma\ngeheim"
    assert split_reply(body).text == "Verholpen."


def test_outlook_separator_right_after_text() -> None:
    """Outlook's underscore line glued to the text is not relayed."""
    body = "Verholpen.\n" + "_" * 32 + "\nVan: Meldpunt\nVerzonden: ma\nAan: x\n\ngeheim"
    assert split_reply(body).text == "Verholpen."


def test_plain_quote_after_text() -> None:
    """Text above a plain ">" quote is kept; the quote is not."""
    assert split_reply("Klopt.\n> geheim\nonder de quote").text == "Klopt."


@pytest.mark.parametrize(
    "body",
    [
        "From: Meldpunt <meldpunt@voorbeeld.nl>\nSent: Monday\nTo: Jan\nSubject: x\n\ngeheim",
        "On Mon, 21 Dec 2026 at 10:00, Meldpunt <meldpunt@voorbeeld.nl> wrote:\n\ngeheim",
        "Van: Meldpunt <meldpunt@voorbeeld.nl>\nVerzonden: maandag\nAan: Jan\n\ngeheim",
        "\n\n> geheim",
        "",
    ],
)
def test_nothing_written_above_history(body: str) -> None:
    """A reply that only carries the history has no text (the library would return the history)."""
    assert split_reply(body).text == ""


@pytest.mark.parametrize(
    "closing", ["Groeten,", "Vriendelijke groet,", "Mvg,", "Kind regards,", "Best,", "--"]
)
def test_signature_on_the_first_line(closing: str) -> None:
    """A closing on the very first line (after the commands) makes the whole text a signature."""
    parts = split_reply(f"{closing}\nJan de Vries\n06 1234 5678")
    assert (parts.text, parts.signature) == ("", f"{closing}\nJan de Vries\n06 1234 5678")


def test_thanks_on_top_is_text() -> None:
    """ "Thanks!" opening a reply is the staff member's text, not a signature."""
    assert split_reply("Thanks!\n\nWe fixed it.\n\n-- \nJan").text == "Thanks!\n\nWe fixed it."


def test_dutch_closing_not_known_to_library() -> None:
    """ "Vriendelijke groet" (without "Met") ends the text; the name and phone stay out."""
    parts = split_reply("Opgelost.\n\nVriendelijke groet,\nJan de Vries\nT 030 123 4567")
    assert (parts.text, parts.signature) == (
        "Opgelost.",
        "Vriendelijke groet,\nJan de Vries\nT 030 123 4567",
    )


def test_hyphen_list_is_text() -> None:
    """A "- item" list in the text is not taken for a signature."""
    body = "Gedaan:\n- patch\n- herstart\n\nMet vriendelijke groet,\nJan"
    assert split_reply(body).text == "Gedaan:\n- patch\n- herstart"


# --- with the command block ------------------------------------------------------------------


def test_commands_then_reply_then_history() -> None:
    """After the commands, the relay text is the greeting and message, nothing more."""
    commands, rest = split_commands(fixture("staff_commands_outlook.txt"))
    parts = split_reply(rest)
    assert commands == [
        "Status: confirmed",
        "Severity: high",
        "Note: leverancier gebeld, patch vrijdag",
    ]
    assert parts.text == (
        "Beste melder,\n\nWij hebben uw melding bevestigd. Dank voor het netjes melden."
    )
    assert "Jan de Vries" not in parts.text


def test_commands_and_signature_only_relay_nothing() -> None:
    """Commands followed by only a signature leave no text to relay."""
    commands, rest = split_commands(fixture("staff_commands_only.txt"))
    assert commands == ["Status: investigating", "Internal: yes"]
    assert split_reply(rest).text == ""


# --- never raise ------------------------------------------------------------------------------


def test_library_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """If mail-parser-reply raises, the extra rules still cut the history, with a reason."""

    def broken(**_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(replies, "EmailMessage", broken)
    parts = split_reply(fixture("gmail_nl.txt"))
    assert parts.fallback_reason == "mail-parser-reply failed: RuntimeError: boom"
    assert parts.text.startswith("Hallo,") and "schreef" not in parts.text
    assert "binnengekomen" not in parts.text


def test_overlong_text_skips_library() -> None:
    """A text above the history longer than the limit is not parsed by the library."""
    body = "a\n" * (MAX_LIBRARY_CHARS // 2 + 1) + "> geheim"
    parts = split_reply(body)
    assert parts.fallback_reason == (
        f"text above the quoted history is over {MAX_LIBRARY_CHARS} characters"
    )
    assert (parts.text.count("a"), "geheim" in parts.text) == (MAX_LIBRARY_CHARS // 2 + 1, False)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_never_raises(body: str) -> None:
    """Any text gives ReplyParts with no trailing blanks."""
    parts = split_reply(body)
    assert isinstance(parts, ReplyParts)
    assert parts.text == parts.text.rstrip()


HISTORIES = [
    "\n\nOp ma 21 dec 2026 om 10:00 schreef Meldpunt <meldpunt@voorbeeld.nl>:\n\n> SECRETQ\n",
    "\n\nOn Mon, 21 Dec 2026 at 10:00, Meldpunt <meldpunt@voorbeeld.nl> wrote:\n\n> SECRETQ\n",
    "\n\nVan: Meldpunt <meldpunt@voorbeeld.nl>\nVerzonden: maandag\nAan: Jan\n\nSECRETQ\n",
    "\n-----Original Message-----\nFrom: Meldpunt\nSent: Monday\nSECRETQ",
    "\n> SECRETQ",
]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200),
    st.sampled_from(HISTORIES),
)
def test_history_never_in_text(own: str, history: str) -> None:
    """Whatever the staff wrote, the quoted history never reaches the text."""
    assert "SECRETQ" not in split_reply(own + history).text
