"""Metadata over HTTP: the job results' items fetched and asset links checked against a loopback server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from apex_core import metadata as md
from tests.services import loopback_http
from tests.stacdocs import embedded_job_item, embedded_job_results

NOW = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.UTC)  # the embedded capture's links expire 2026-12-01


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[str]:
    """Serves the files of ``tmp_path``."""
    with loopback_http(partial(_QuietHandler, directory=str(tmp_path))) as url:
        yield url


def test_items_fetched_and_assets_checked_over_http(loopback: str, tmp_path: Path) -> None:
    embedded, embedded_item = embedded_job_results(), embedded_job_item()
    (tmp_path / "item.json").write_text(json.dumps(embedded_item))
    (tmp_path / "openEO.tif").write_bytes(b"II*\x00" + bytes(100))
    for link in embedded["links"]:
        if link["rel"] == "item":
            link["href"] = f"{loopback}/item.json?expires=1796074525"
    embedded["links"].append(
        {"rel": "item", "href": f"{loopback}/missing.json", "type": "application/geo+json"}
    )
    items, problems = md.fetch_items(embedded, timeout=5)
    assert [i["id"] for i in items] == ["openEO"]
    assert len(problems) == 1
    assert "missing.json" in problems[0]
    reach = md.check_reachable([f"{loopback}/openEO.tif", f"{loopback}/gone.tif", "s3://eodata/x"], timeout=5)
    assert [(r.ok, r.status) for r in reach] == [(True, 200), (False, 404), (False, None)]
    draft = md.CollectionDraft.from_results(embedded, [])
    checks = {c.key: c for c in md.readiness(draft, draft.apply(embedded), reachability=reach[:1], now=NOW)}
    assert checks["reachable"].ok is True
