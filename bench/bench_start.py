"""Benchmark the first minute (issue #17): the embedded services from a fresh state dir, and the app's first
page while they start. Goals on this machine: embedded services ready in under 8 s, first page content in
under 1 s.

1. **Services.** ``--rounds`` times each, alternating (the machine's load drifts), ``python -m
   apex_core.local serve`` as the app starts it (:class:`~apex_core.local.contract.EmbeddedServices`) on a
   fresh state dir whose data folder is empty, so every start also provisions the Sentinel-2 sample (from
   the local copy, ``../shared/data``, checked by SHA-256): ``sequential`` (``--sequential``, one service
   after the other: the baseline, as before the change) and ``parallel`` (the default). Columns, in
   seconds from the start of the child: each service answering (the line's ``timings``), ``all`` (the line
   printed, read by the app: what the app waits for), ``workers`` (the openEO backend's two batch-job
   workers ready), ``data`` the provisioning itself, ``stop`` how long stopping everything took; then
   the ratio parallel/sequential of the medians.
2. **First page.** The app as users start it (``scripts/serve.py``, a fresh ``APEX_STATE_DIR``, the
   embedded services auto-started): seconds from the process start until ``/_stcore/health`` answers
   ``ok``, the first byte of ``GET /``; then in Debian's Chromium (offline: loopback only) the time from
   navigation to the first page content (the start page's and the Area page's title rendered) and
   whether the embedded services were still starting then (pages do not wait for them).

Run: ``.venv/bin/python bench/bench_start.py [--rounds 3] [--no-browser] [--json FILE] [--pycache DIR]``.
About 2 to 4 minutes.

Bytecode matters more than anything here: ``uv pip sync`` installs without ``.pyc`` files and this machine's
environment sets ``PYTHONDONTWRITEBYTECODE=1``, so every child compiles pandas, xarray and openeo-driver from
source at each start (importing the openEO server: 8.6 s, against 2.4 s from bytecode). ``--pycache DIR``
measures with a bytecode cache there (``PYTHONPYCACHEPREFIX``, nothing written into ``.venv``; the first
start fills it). Measured on this 2-core machine (2 rounds, December 2026), all ready: sequential 23.2 s,
parallel 25.1 s without bytecode (CPU-bound: ratio 1.08); with ``--pycache``, sequential 8.9 s, parallel
4.5 s (ratio 0.51; workers 13.3 s -> 8.2 s); the app's health 2.0 s, first byte 6 ms, first content 7.7 s
(start page, the first session's imports competing with the services' start) and 2.8 s (Area page).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apex_core.local.contract import EmbeddedServices  # noqa: E402
from tests.services import process_alive, traversable_tmpdir, wait_for_workers  # noqa: E402

GOAL_READY_S = 8.0
GOAL_CONTENT_S = 1.0
SERVICES = ("issuer", "catalogue", "openeo")


def start_once(mode: str) -> dict[str, Any]:
    """One start of the embedded services on a fresh state dir with an empty data folder."""
    state = traversable_tmpdir(f"apex-bench-start-{mode}-")
    services = EmbeddedServices(
        state, state / "data", extra_args=["--sequential"] if mode == "sequential" else []
    )
    began = time.monotonic()
    try:
        services.start()
        endpoints = services.wait(timeout=180)
        seen = time.monotonic() - began
        wait_for_workers(endpoints.openeo_url, timeout=180)
        workers = time.monotonic() - began
        sample = endpoints.sample_data
        row: dict[str, Any] = {
            **{name: endpoints.timings.get(name) for name in SERVICES},
            "all": endpoints.timings.get("all"),
            "seen": round(seen, 3),
            "workers": round(workers, 3),
            "data": round(sample.seconds, 3) if sample is not None else None,
            "data_ok": bool(sample is not None and sample.ok),
            "data_outcomes": sorted(set(sample.outcomes.values())) if sample is not None else [],
        }
        pids = dict(endpoints.pids)
        stop_began = time.monotonic()
        services.stop(timeout=60)
        row["stop"] = round(time.monotonic() - stop_began, 3)
        row["left_running"] = [name for name, pid in pids.items() if process_alive(pid)]
        return row
    finally:
        services.stop(timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def bench_services(rounds: int) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {"sequential": [], "parallel": []}
    for i in range(rounds):
        order = ("sequential", "parallel") if i % 2 == 0 else ("parallel", "sequential")
        for mode in order:
            results[mode].append(start_once(mode))
    return results


def print_services(results: dict[str, list[dict[str, Any]]]) -> None:
    keys = (*SERVICES, "all", "workers", "data", "stop")
    print("Embedded services from a fresh state dir (sample provisioned from the local copy), seconds")
    print(f"{'mode':<12}{'round':>6}" + "".join(f"{k:>10}" for k in keys) + "  data")
    for mode, rows in results.items():
        for i, row in enumerate(rows, 1):
            cells = "".join(f"{row[k]:>10.2f}" if row.get(k) is not None else f"{'—':>10}" for k in keys)
            extra = ",".join(row["data_outcomes"]) + ("" if row["data_ok"] else " INCOMPLETE")
            if row["left_running"]:
                extra += f" LEFT RUNNING: {row['left_running']}"
            print(f"{mode:<12}{i:>6}{cells}  {extra}")
    print(f"{'median':<18}")
    seq, par = results["sequential"], results["parallel"]
    for mode, rows in results.items():
        meds = [_median(rows, k) for k in keys]
        print(f"{mode:<18}" + "".join(f"{m:>10.2f}" if m is not None else f"{'—':>10}" for m in meds))
    ratios = []
    for k in keys:
        s, p = _median(seq, k), _median(par, k)
        ratios.append(f"{p / s:>10.2f}" if s and p is not None else f"{'—':>10}")
    print(f"{'par./seq.':<18}" + "".join(ratios))
    ready = _median(par, "all")
    if ready is not None:
        verdict = "met" if ready < GOAL_READY_S else "NOT met"
        print(f"Goal: all ready under {GOAL_READY_S:.0f} s (parallel median {ready:.2f} s): {verdict}")


def bench_first_page(browser: bool) -> dict[str, Any]:
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, app_server, base_url

    state = traversable_tmpdir("apex-bench-app-")
    service = app_server(state, APEX_EMBEDDED_AUTOSTART="true")
    out: dict[str, Any] = {}
    began = time.monotonic()
    try:
        service.start(timeout=120)
        out["health"] = round(time.monotonic() - began, 3)
        url = base_url(service)
        t0 = time.monotonic()
        with requests.get(url + "/", stream=True, timeout=30) as resp:
            next(resp.iter_content(1))
            out["first_byte"] = round(time.monotonic() - t0, 4)
        if browser:
            from playwright.sync_api import sync_playwright

            log = state / "embedded-services.log"
            with sync_playwright() as pw:
                chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    for label, path in (("start page", "/"), ("area page", "/area")):
                        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
                        context.route(
                            "**/*",
                            lambda r: (
                                r.continue_()
                                if r.request.url.startswith(("data:", "blob:", "http://127.0.0.1"))
                                else r.abort()
                            ),
                        )
                        page = context.new_page()
                        t0 = time.monotonic()
                        page.goto(url + path)
                        page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
                        out[label] = round(time.monotonic() - t0, 3)
                        out[f"{label} services"] = _services_state(log)
                        context.close()
                finally:
                    chromium.close()
    finally:
        service.stop(timeout=90)
        shutil.rmtree(state, ignore_errors=True)
    return out


def _services_state(log: Path) -> str:
    """Whether the app's embedded services had announced themselves (from their log)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "starting"
    return "ready" if all(f"{name} ready" in text for name in SERVICES) else "starting"


def print_first_page(out: dict[str, Any]) -> None:
    print("\nThe app (scripts/serve.py, fresh state dir, embedded services auto-started), seconds")
    print(f"  process start -> /_stcore/health ok      {out['health']:.2f}")
    print(f"  GET / first byte                          {out['first_byte']:.3f}")
    for label in ("start page", "area page"):
        if label in out:
            print(
                f"  {label}: navigation -> title shown     {out[label]:.2f}"
                f"  (services {out[label + ' services']})"
            )
    shown = [out[k] for k in ("start page", "area page") if k in out]
    if shown:
        verdict = "met" if max(shown) < GOAL_CONTENT_S else "NOT met"
        print(
            f"Goal: first page content under {GOAL_CONTENT_S:.0f} s (slowest {max(shown):.2f} s): {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="starts per mode")
    parser.add_argument("--no-browser", action="store_true", help="no Chromium measure of the first content")
    parser.add_argument("--no-app", action="store_true", help="only the embedded services")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument(
        "--pycache", type=Path, default=None, help="a bytecode cache for every child (PYTHONPYCACHEPREFIX)"
    )
    args = parser.parse_args()
    if args.pycache is not None:
        os.environ["PYTHONPYCACHEPREFIX"] = str(args.pycache.resolve())
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        print(f"bytecode cache: {args.pycache} (PYTHONPYCACHEPREFIX)")
    results = bench_services(args.rounds)
    print_services(results)
    first_page: dict[str, Any] = {}
    if not args.no_app:
        first_page = bench_first_page(browser=not args.no_browser)
        print_first_page(first_page)
    if args.json is not None:
        args.json.write_text(json.dumps({"services": results, "first_page": first_page}, indent=2))


if __name__ == "__main__":
    main()
