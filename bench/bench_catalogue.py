"""Benchmark the embedded catalogue: startup (fresh and restart), single vs bulk item POSTs with auth.

Run: ``.venv/bin/python bench/bench_catalogue.py [--items 200]``. Prints seconds, rates and ratios.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apex_core.local.catalogue import start_catalogue
from apex_core.local.issuer import start_issuer
from tests.stacdocs import item_doc

T = 30


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB (Linux /proc)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(c) for c in children)
    return total / 1024


def postgres_rss_mb(data_dir: Path) -> float:
    pid_file = data_dir / "postmaster.pid"
    return rss_mb(int(pid_file.read_text().split()[0])) if pid_file.exists() else 0.0


def item(iid: str, cid: str) -> dict[str, Any]:
    return item_doc(iid, cid, {"data": {"href": "http://127.0.0.1/assets/x.tif", "type": "image/tiff"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200, help="items per method")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="apex-bench-"))
    root.chmod(0o711)
    issuer = start_issuer(root / "issuer")
    try:
        t0 = time.monotonic()
        cat = start_catalogue(root / "cat", issuer.issuer_url)
        fresh = time.monotonic() - t0
        cat.stop()
        t0 = time.monotonic()
        cat = start_catalogue(root / "cat", issuer.issuer_url)
        restart = time.monotonic() - t0
        try:
            editor = issuer.client("editor")
            token = requests.post(
                issuer.token_url,
                data={"grant_type": "client_credentials"},
                auth=(editor.client_id, editor.client_secret),
                timeout=T,
            ).json()["access_token"]
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            col = {
                "type": "Collection",
                "id": "bench",
                "stac_version": "1.1.0",
                "description": "bench",
                "license": "CC-BY-4.0",
                "links": [],
                "extent": {
                    "spatial": {"bbox": [[-16, 27, -15, 28]]},
                    "temporal": {"interval": [[None, None]]},
                },
                "_auth": {"read": ["apex-editor"], "write": ["apex-editor"]},
            }
            session.post(f"{cat.url}/collections", json=col, timeout=T).raise_for_status()
            n = args.items
            t0 = time.monotonic()
            for i in range(n):
                session.post(
                    f"{cat.url}/collections/bench/items", json=item(f"s{i}", "bench"), timeout=T
                ).raise_for_status()
            single = n / (time.monotonic() - t0)
            body = {"items": {f"b{i}": item(f"b{i}", "bench") for i in range(n)}, "method": "insert"}
            t0 = time.monotonic()
            session.post(f"{cat.url}/collections/bench/bulk_items", json=body, timeout=T).raise_for_status()
            bulk = n / (time.monotonic() - t0)
            t0 = time.monotonic()
            reads = 50
            for _ in range(reads):
                session.get(
                    f"{cat.url}/collections/bench/items", params={"limit": 10}, timeout=T
                ).raise_for_status()
            read_ms = (time.monotonic() - t0) / reads * 1000
            api_pid = cat.service.process.pid if cat.service.process else 0
            rows = [
                ("startup fresh (initdb+migrate+API)", f"{fresh:.2f} s"),
                (
                    "startup restart (existing cluster)",
                    f"{restart:.2f} s (restart/fresh {restart / fresh:.2f})",
                ),
                ("issuer startup", f"{issuer.startup_seconds or 0:.2f} s"),
                ("single item POST (auth on)", f"{single:.0f} items/s"),
                ("bulk_items POST (auth on)", f"{bulk:.0f} items/s (bulk/single {bulk / single:.1f}x)"),
                ("GET items (private, token checked)", f"{read_ms:.1f} ms per request"),
                ("RSS API", f"{rss_mb(api_pid):.0f} MB"),
                ("RSS PostgreSQL", f"{postgres_rss_mb(cat.postgres.data_dir):.0f} MB"),
            ]
            for label, value in rows:
                print(f"{label:<36} {value}")
        finally:
            cat.stop()
    finally:
        issuer.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
