"""Benchmark of the embedded openEO backend: startup, sync NDVI, batch round trip, server memory.

Batch jobs run in worker processes (the engine loaded once per worker); ``workers_ready_s`` is how long
after the API answers both workers are ready, and the batch round trips are measured after that.

Run from the project root: ``.venv/bin/python -m bench.bench_openeo_backend [--jobs N]``
(uses the default sample data dir).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import openeo
import requests

from apex_core.config import Settings
from apex_core.local.openeo.service import DEFAULT_PASSWORD, DEFAULT_USER, start_openeo_backend
from apex_core.sampledata import ensure_sample_data

AOI = {
    "type": "Feature",
    "properties": {},
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[11.279, 46.4596], [11.4034, 46.4596], [11.4034, 46.5254], [11.279, 46.5254], [11.279, 46.4596]]
        ],
    },
}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_for_workers(url: str, timeout: float = 300.0) -> float:
    begin = time.monotonic()
    while len(requests.get(f"{url}/health", timeout=10).json().get("workers", [])) < 2:
        if time.monotonic() - begin > timeout:
            raise RuntimeError("the batch-job workers did not become ready")
        time.sleep(0.05)
    return time.monotonic() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    data_dir = Settings.load().sample_data_dir
    ensure_sample_data(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        begin = time.monotonic()
        service = start_openeo_backend(Path(tmp), data_dir)
        startup = time.monotonic() - begin
        try:
            assert service.process is not None
            pid = service.process.pid
            workers_ready = _wait_for_workers(service.url)
            idle = _rss_mb(pid)
            worker_pids = requests.get(f"{service.url}/health", timeout=10).json()["workers"]
            workers_idle = sum(_rss_mb(p) for p in worker_pids)
            con = openeo.connect(service.url).authenticate_basic(DEFAULT_USER, DEFAULT_PASSWORD)
            cube = (
                con.load_collection(
                    "SENTINEL2_L2A", spatial_extent=AOI, temporal_extent="2022-06-12", bands=["B04", "B08"]
                )
                .ndvi()
                .resample_spatial(38.21851414258813, "EPSG:3857")
                .save_result("GTiff")
            )
            sync: list[float] = []
            for _ in range(args.jobs):
                t = time.monotonic()
                cube.download(Path(tmp) / "sync.tif")
                sync.append(time.monotonic() - t)
            batch: list[float] = []
            for _ in range(args.jobs):
                t = time.monotonic()
                job = cube.create_job()
                job.start_and_wait(max_poll_interval=0.05, print=lambda *_: None)
                job.get_results().download_files(Path(tmp) / job.job_id)
                batch.append(time.monotonic() - t)
            report = {
                "startup_s": round(startup, 2),
                "workers_ready_s": round(workers_ready, 2),
                "sync_ndvi_full_scene_s": {
                    "median": round(statistics.median(sync), 3),
                    "max": round(max(sync), 3),
                },
                "batch_round_trip_with_download_s": {
                    "median": round(statistics.median(batch), 3),
                    "max": round(max(batch), 3),
                },
                "server_rss_mb": {"idle": round(idle, 1), "after": round(_rss_mb(pid), 1)},
                "workers_rss_mb_total": {"idle": round(workers_idle, 1)},
            }
            print(json.dumps(report, indent=1))
        finally:
            service.stop()


if __name__ == "__main__":
    main()
