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
    future = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).timestamp())
    for link in embedded["links"]:
        if link["rel"] == "item":
            link["href"] = f"{loopback}/item.json?expires={future}"
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


def test_expired_item_links_are_not_requested(tmp_path: Path) -> None:
    """A signed item link past its ``expires`` is not fetched (the back-end would refuse it, and offline
    the request would only wait): it is reported; a link still valid is fetched."""
    requested: list[str] = []

    class Counting(_QuietHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            super().do_GET()

    (tmp_path / "item.json").write_text(json.dumps(embedded_job_item()))
    embedded = embedded_job_results()
    embedded["links"] = [link for link in embedded["links"] if link["rel"] != "item"]
    with loopback_http(partial(Counting, directory=str(tmp_path))) as url:
        future = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).timestamp())
        embedded["links"] += [
            {"rel": "item", "href": f"{url}/item.json?expires=1700000000"},  # 2023-11-14
            {"rel": "item", "href": f"{url}/item.json?expires={future}"},
        ]
        items, problems = md.fetch_items(embedded, timeout=5)
    assert requested == [f"/item.json?expires={future}"]
    assert [i["id"] for i in items] == ["openEO"]
    (problem,) = problems
    assert "expired on 2023-11-14" in problem and "not fetched" in problem
