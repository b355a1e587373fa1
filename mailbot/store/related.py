"""The index of related reports (issue 18): each case's system digests, text bands and
MinHash signature, and the earlier cases a new report shares one of them with. Lookups go
by index (`case_systems_system`, `case_bands_band`): no earlier text is read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from mailbot.core.models import CLOSED_STATES
from mailbot.core.related import Candidate, bands, pack, unpack
from mailbot.store.db import Connection
from mailbot.store.schema import from_iso, iso

MAX_CANDIDATES = 200
"""At most this many earlier cases are weighed per report (the newest first)."""


class RelatedStore(Connection):
    """Reads and writes of case_systems, case_bands and case_signatures."""

    def index_case(self, case_id: str, systems: Iterable[str], sig: Sequence[int] | None) -> None:
        """Index case `case_id` by its system digests and text signature (in a transaction)."""
        self.db.conn.executemany(
            "INSERT INTO case_systems (case_id, system) VALUES (?, ?)",
            [(case_id, s) for s in sorted(set(systems))],
        )
        if sig is None:
            return
        self.db.conn.executemany(
            "INSERT INTO case_bands (band, case_id) VALUES (?, ?)",
            [(band, case_id) for band in bands(sig)],
        )
        self.db.execute(
            "INSERT OR REPLACE INTO case_signatures (case_id, signature) VALUES (?, ?)",
            [case_id, pack(sig)],
        )

    def set_related(self, case_id: str, links: Sequence[tuple[str, str]], now: datetime) -> None:
        """Write case `case_id`'s related cases alone (not its id: no foreign-key scans)."""
        self.db.execute(
            "UPDATE cases SET related = ?, updated_at = ? WHERE id = ?",
            [json.dumps([list(pair) for pair in links]), iso(now), case_id],
        )

    def related_candidates(
        self, systems: Iterable[str], sig: Sequence[int] | None, exclude: str
    ) -> list[Candidate]:
        """The earlier cases (not `exclude`) sharing a system digest or a text band."""
        shared: dict[str, set[str]] = {}
        wanted = sorted(set(systems))
        if wanted:
            marks = ",".join("?" * len(wanted))
            rows = self.db.execute(
                f"SELECT case_id, system FROM case_systems WHERE system IN ({marks})",  # noqa: S608
                wanted,
            )
            for case_id, system in rows:
                shared.setdefault(case_id, set()).add(system)
        if sig is not None:
            keys = bands(sig)
            rows = self.db.execute(
                f"SELECT DISTINCT case_id FROM case_bands WHERE band IN ({','.join('?' * len(keys))})",  # noqa: S608, E501
                keys,
            )
            for (case_id,) in rows:
                shared.setdefault(case_id, set())
        shared.pop(exclude, None)
        return self._candidates(shared)

    def _candidates(self, shared: dict[str, set[str]]) -> list[Candidate]:
        if not shared:
            return []
        ids = sorted(shared)
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT c.id, c.state, c.updated_at, s.signature FROM cases c"  # noqa: S608
            f" LEFT JOIN case_signatures s ON s.case_id = c.id WHERE c.id IN ({marks})"
            f" ORDER BY c.updated_at DESC LIMIT {MAX_CANDIDATES}",
            ids,
        )
        closed = {s.value for s in CLOSED_STATES}
        found = []
        for case_id, state, updated_at, blob in rows:
            moment = from_iso(updated_at)
            assert moment is not None
            signature = unpack(blob) if blob else None
            found.append(
                Candidate(
                    case_id, state not in closed, moment, frozenset(shared[case_id]), signature
                )
            )
        return found
