"""The monthly report's HTML in a real browser: headless Chromium renders a sample month at
1280 and 390 px wide, takes a screenshot and prints a PDF of each, and the tests check
what a person would notice: nothing sticks out sideways on a phone, the print has the
expected number of A4 pages and its last page is not nearly empty, every headline figure
can be found in a table.

Chromium (Debian package `chromium`) is driven over its DevTools protocol on a pipe
(`--remote-debugging-pipe`): one browser for the module, no network, no extra package.
Where it is missing the tests skip, unless MAILBOT_REQUIRE_CHROMIUM=1 (set by .ci/run,
which installs it): then they fail.

`MAILBOT_WRITE_DOCS=1 pytest tests/test_report_browser.py` also writes docs/report.png,
the screenshot the README shows.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailbot.core.workdays import make_calendar
from mailbot.report.figures import Report, build_report
from mailbot.report.html import render_html
from mailbot.report.rows import CaseRow, ClockRow, EventRow, MessageRow, Month, Rows
from mailbot.report.tables import headline
from mailbot.report.words import Words

AMS = ZoneInfo("Europe/Amsterdam")
CALENDAR = make_calendar()
SAMPLE = Month(2026, 11)
"""November 2026: Mon 30 Nov is alone in its week (a partial week); intake began on
Mon 2 Feb 2026, so the trend shows two months without data and a partial February."""
MADE = datetime(2026, 12, 1, 8, 30, tzinfo=AMS)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "report.png"
EXPECTED_PAGES = 3
"""A4 pages of the sample month printed (measured; see test_print_has_the_expected_pages)."""


# --- a sample year ------------------------------------------------------------------------


def working_moment(rng: random.Random, day: datetime) -> datetime:
    """A moment on `day` between 08:00 and 19:00 local time."""
    return day.replace(hour=rng.randint(8, 18), minute=rng.randint(0, 59))


def sample_rows(seed: int = 16) -> Rows:
    """Ten months of reports (Feb-Nov 2026), 6 to 16 a month, handled as a small team
    handles them: acknowledged within a minute, most answered within the 5 working days,
    some late, most closed within 60 days; deterministic for a seed."""
    rng = random.Random(seed)
    cases, clocks, events, messages = [], [], [], []
    severities = ["low", "medium", "high", "critical", None]
    subjects = ["Lek in portaal", "XSS op zoekpagina", "Open S3-bucket", "Oude WordPress", "SPF"]
    day = datetime(2026, 2, 2, tzinfo=AMS)
    seq = 0
    while day < datetime(2026, 12, 1, tzinfo=AMS):
        if rng.random() < 0.45 and CALENDAR.is_working_day(day.date()):
            seq += 1
            case_id = f"MK-2026-{seq:04d}"
            received = working_moment(rng, day)
            one = _case(rng, case_id, received, severities, subjects)
            cases.append(one.case)
            clocks += one.clocks
            events += one.events
            messages.append(MessageRow(received, "new_case"))
            for _ in range(rng.choice([0, 0, 1, 2])):
                kind = rng.choice(["followup", "followup", "auto_reply", "spam", "bounce"])
                messages.append(MessageRow(received + timedelta(days=rng.randint(1, 9)), kind))
        day += timedelta(days=1)
    return Rows(tuple(cases), tuple(messages), tuple(clocks), tuple(events))


@dataclass
class _Sample:
    case: CaseRow
    clocks: list[ClockRow]
    events: list[EventRow]


def _case(
    rng: random.Random,
    case_id: str,
    received: datetime,
    severities: list[str | None],
    subjects: list[str],
) -> _Sample:
    """One case with its clocks and events: answered 1 to 8 working days after its
    ontvangstdag (late after 5), an update promised 10 working days after the answer (kept
    mostly), closed 8 to 75 days after receipt unless that lies after the month (closing
    ends every clock)."""
    end = datetime(2026, 12, 1, tzinfo=AMS)
    acked = received + timedelta(seconds=rng.randint(4, 50))
    days = rng.choice([1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 8])
    answered = datetime.combine(
        CALENDAR.nth_working_day_after(CALENDAR.ontvangstdag(received), days),
        datetime.min.time(),
        tzinfo=AMS,
    ).replace(hour=rng.randint(9, 16))
    closed = received + timedelta(days=rng.randint(8, 75), hours=rng.randint(0, 6))
    state = rng.choice(["resolved", "resolved", "resolved", "rejected", "duplicate"])
    if closed >= end:
        closed, state = end + timedelta(days=999), "investigating"
    ends = closed if closed < end else None
    events: list[EventRow] = []
    if ends is not None:
        events.append(EventRow(case_id, closed, "state_changed", f"investigating → {state}"))
    clocks = [ClockRow(case_id, "ack_due", CALENDAR.due(received, 1).due, met_at=acked)]
    clocks += _response(case_id, received, answered, ends, events)
    update_due = CALENDAR.due_after(answered, 10).due
    if answered < end:
        kept = closed < update_due or rng.random() < 0.75
        done = min(closed, update_due - timedelta(days=2)) if kept else ends
        missed = None if kept else update_due
        clocks.append(ClockRow(case_id, "update_due", update_due, None, missed, done))
    resolve_due = received + timedelta(days=60)
    late_close = resolve_due if ends is not None and closed > resolve_due else None
    clocks.append(ClockRow(case_id, "resolve_due", resolve_due, None, late_close, ends))
    case = CaseRow(
        case_id,
        rng.choice(subjects),
        state,
        received,
        acked,
        source=rng.choice(["direct", "direct", "direct", "relay"]),
        reward=rng.choice(["undecided", "yes", "no", "sent"]),
        severity=rng.choice(severities),
    )
    return _Sample(_triaged(case, events), clocks, events)


def _triaged(case: CaseRow, events: list[EventRow]) -> CaseRow:
    """The case with a triage of its own random draw (the sample's draws stay as they were):
    about 1 in 4 arrives incomplete (half of those completed later), 1 in 5 is a known
    finding, 1 in 4 related to the case before it, 1 in 10 demands a reward."""
    draw = random.Random(case.id)
    number = int(case.id.rsplit("-", 1)[1])
    missing: tuple[str, ...] = ()
    if draw.random() < 0.25:
        events.append(EventRow(case.id, case.received_at, "missing_set", "system"))
        missing = ("system",) if draw.random() < 0.5 else ()
    known = draw.choice(["dmarc", "clickjacking"]) if draw.random() < 0.2 else None
    related = (f"MK-2026-{number - 1:04d}",) if number > 1 and draw.random() < 0.25 else ()
    flags = ("reward_demand",) if draw.random() < 0.1 else ()
    return replace(case, missing=missing, known_finding=known, related=related, flags=flags)


def _response(
    case_id: str,
    received: datetime,
    answered: datetime,
    ends: datetime | None,
    events: list[EventRow],
) -> list[ClockRow]:
    """The response clock: met, answered late (with its clock_late event), or not answered
    by the end of the month (done when the case closed)."""
    response_due = CALENDAR.due(received, 5).due
    if answered >= datetime(2026, 12, 1, tzinfo=AMS):
        return [ClockRow(case_id, "response_due", response_due, done_at=ends)]
    if answered <= response_due:
        return [ClockRow(case_id, "response_due", response_due, met_at=answered)]
    events.append(EventRow(case_id, answered, "clock_late", "response_due"))
    return [ClockRow(case_id, "response_due", response_due, None, response_due, answered)]


@pytest.fixture(scope="module")
def sample() -> Report:
    """The report of November 2026 from the sample year, made Tue 1 Dec 08:30."""
    return build_report(sample_rows(), SAMPLE, CALENDAR, MADE, organisation="Gemeente Voorbeeld")


# --- Chromium over the DevTools protocol ---------------------------------------------------


def chromium_binary() -> str | None:
    """The Chromium (or Chrome) on PATH, else None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """Headless Chromium driven over `--remote-debugging-pipe` (fd 3 in, fd 4 out; each
    message JSON ended by NUL), one page (target) at a time."""

    def __init__(self, binary: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="mailbot-chromium-")
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def pipes() -> None:  # in the child: its fds 3 and 4 are the pipe ends
            read, write = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=pipes,  # noqa: PLW1509 - single-threaded test process
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        found: dict[str, Any] = json.loads(message)
        return found

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events meanwhile are kept)."""
        self._next += 1
        command: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        while True:
            message = self._read()
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self._events.append(message)

    def wait_for(self, event: str, session: str) -> None:
        """Until `event` of `session` arrived."""
        while True:
            for n, message in enumerate(self._events):
                if message.get("method") == event and message.get("sessionId") == session:
                    del self._events[n]
                    return
            self._events.append(self._read())

    def open(self, url: str, width: int) -> str:
        """A new page `width` CSS px wide (a phone below 600 px) showing `url`; its session."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = str(
            self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        )
        self.send("Page.enable", session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        return reply["result"]["value"]

    def screenshot(self, session: str, width: int, height: int) -> bytes:
        """A PNG of the page's top `height` px (the whole page when taller than it)."""
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        reply = self.send(
            "Page.captureScreenshot", session, format="png", captureBeyondViewport=True, clip=clip
        )
        return base64.b64decode(reply["data"])

    def pdf(self, session: str) -> bytes:
        """The page printed (its own @page size: A4)."""
        reply = self.send("Page.printToPDF", session, preferCSSPageSize=True, printBackground=True)
        return base64.b64decode(reply["data"])

    def close(self) -> None:
        """Close the browser and remove its profile."""
        try:
            self.send("Browser.close")
            self.process.wait(timeout=10)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)
        shutil.rmtree(self.profile, ignore_errors=True)


@dataclass(frozen=True)
class Rendered:
    """What the browser made of the page at one width."""

    width: int
    scroll_width: int
    height: int
    png: bytes
    pdf: bytes
    figures: list[str]
    cells: list[str]


MEASURE = (
    "[document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
    " Array.from(document.querySelectorAll('.figure'), e => e.innerText.trim()),"
    " Array.from(document.querySelectorAll('td'), e => e.innerText.trim())]"
)


@pytest.fixture(scope="module")
def rendered(
    sample: Report, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[int, Rendered]]:
    """The sample month in Dutch rendered at 1280 and 390 px: measures, screenshot, PDF."""
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("MAILBOT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(
                "MAILBOT_REQUIRE_CHROMIUM=1 but Chromium is missing (apt-get install chromium)"
            )
        pytest.skip("Chromium not installed (apt-get install chromium)")
    page = tmp_path_factory.mktemp("report") / "report.html"
    page.write_text(render_html(sample, "nl"), encoding="utf-8")
    browser = Browser(binary)
    try:
        found = {}
        for width in (1280, 390):
            session = browser.open(page.as_uri(), width)
            scroll_width, height, figures, cells = browser.evaluate(session, MEASURE)
            png = browser.screenshot(session, width, height)
            found[width] = Rendered(
                width, scroll_width, height, png, browser.pdf(session), figures, cells
            )
        if os.environ.get("MAILBOT_WRITE_DOCS") == "1":
            session = browser.open(page.as_uri(), 800)
            DOCS.parent.mkdir(exist_ok=True)
            DOCS.write_bytes(browser.screenshot(session, 800, 1560))
        yield found
    finally:
        browser.close()


# --- what the PDF holds ---------------------------------------------------------------------


def pdf_pages(data: bytes) -> list[int]:
    """The drawing operators on each page of a PDF (in page order), from its content
    streams: a rough measure of how much each page holds."""
    objects = {int(m[1]): m[2] for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", data, re.DOTALL)}
    kids = next(
        re.search(rb"/Kids\s*\[([^\]]*)\]", body)
        for body in objects.values()
        if re.search(rb"/Type\s*/Pages\b", body)
    )
    assert kids is not None
    counts = []
    for number in re.findall(rb"(\d+) 0 R", kids[1]):
        contents = re.search(rb"/Contents\s+(\d+) 0 R", objects[int(number)])
        assert contents is not None
        stream = objects[int(contents[1])].split(b"stream", 1)[1].lstrip(b"\r\n")
        text = zlib.decompress(stream.rsplit(b"endstream", 1)[0])
        counts.append(len(re.findall(rb"\b(?:TJ|Tj|re|f|S)\b", text)))
    return counts


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 390])
def test_nothing_sticks_out_sideways(rendered: dict[int, Rendered], width: int) -> None:
    """At 1280 and 390 px the page is exactly as wide as the screen: wide tables and the
    charts scroll inside their own box, the page never does."""
    page = rendered[width]
    assert page.scroll_width == width


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshot_shows_the_whole_page(rendered: dict[int, Rendered], width: int) -> None:
    """The screenshot is as wide as the screen and as tall as the page; a phone's page is
    taller (tiles two a row, columns below each other)."""
    assert png_size(rendered[width].png) == (width, rendered[width].height)
    assert rendered[390].height > rendered[1280].height


@pytest.mark.parametrize("width", [1280, 390])
def test_print_has_the_expected_pages(rendered: dict[int, Rendered], width: int) -> None:
    """Printed (A4, whatever the screen), the sample month takes EXPECTED_PAGES pages and
    the last one holds at least a quarter of what the first holds."""
    pages = pdf_pages(rendered[width].pdf)
    assert len(pages) == EXPECTED_PAGES
    assert pages[-1] * 4 >= pages[0], pages


def test_every_headline_figure_stands_in_a_table(
    rendered: dict[int, Rendered], sample: Report
) -> None:
    """What the browser shows in the six tiles is also the text of a table cell."""
    page = rendered[1280]
    assert page.figures == [value for _, value in headline(sample, Words("nl"))]
    assert [f for f in page.figures if f not in page.cells] == []


def test_sample_month_shows_what_the_report_is_for(sample: Report) -> None:
    """The sample has what the screenshot should show: partial months and a partial week,
    cases closed, something overdue, every month of data in the trend."""
    assert [m.no_data for m in sample.trend] == [True, True] + [False] * 10
    assert (sample.trend[2].partial, sample.weeks[-1].partial) == (True, True)
    assert sample.closed_count > 0 and sample.overdue != ()


def test_docs_screenshot_is_small(rendered: dict[int, Rendered]) -> None:
    """docs/report.png (the README's picture) is a PNG 800 px wide, under 300 KB."""
    if not DOCS.exists():
        pytest.skip("docs/report.png not written yet (MAILBOT_WRITE_DOCS=1)")
    data = DOCS.read_bytes()
    assert (png_size(data)[0], len(data) < 300_000) == (800, True)


def test_sample_page_stays_under_gmails_clip(sample: Report) -> None:
    """The sample month's HTML (Dutch, the longer words) is under the 102 KB at which Gmail
    clips a message's HTML; the README gives its size."""
    size = len(render_html(sample, "nl").encode("utf-8"))
    assert (size < 102_000, round(size / 1000)) == (True, 71)
