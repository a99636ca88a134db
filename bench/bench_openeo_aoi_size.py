"""Benchmark: batch-job wall time against the size of the area of interest.

Two data sets, each measured on AOIs of 1/16, 1/4 and the whole of its footprint (centred boxes):

* the Bolzano sample (705 x 935 pixels) on the backend over the default sample data dir;
* a synthetic scene generated at run time (default 5000 x 5000 pixels, 4 bands B04 B03 B02 B08, uint16,
  nodata 0, EPSG:32633) in a temporary data dir laid out like the real one (``synthetic/manifest.json``),
  served by a second backend instance.

Each job is the notebook's graph (NDVI, resampled to Web Mercator at 38.2 m, GeoTIFF), submitted with the
openeo client and waited for with fast polling, then its result downloaded. Prints wall times (median of
``--repeat`` runs) and ratios against the smallest AOI of the same data set, measured in the same run.

Run from the project root: ``.venv/bin/python -m bench.bench_openeo_aoi_size [--size 5000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import openeo
import rasterio
import rasterio.warp
import requests
from rasterio.transform import from_origin

from apex_core.config import Settings
from apex_core.local.openeo.service import DEFAULT_PASSWORD, DEFAULT_USER, start_openeo_backend
from apex_core.sampledata import ensure_sample_data

BOLZANO_BBOX = (11.2790, 46.4596, 11.4034, 46.5254)
SYNTHETIC_DAY = "2023-07-01"
FRACTIONS = (1 / 16, 1 / 4, 1.0)  # of the footprint's area


def write_synthetic(data_dir: Path, size: int) -> tuple[float, float, float, float]:
    """A ``size`` x ``size`` 4-band uint16 scene + manifest under ``data_dir/synthetic``; its WGS84 bbox."""
    folder = data_dir / "synthetic"
    folder.mkdir(parents=True)
    path = folder / "scene.tif"
    transform = from_origin(500000.0, 5000000.0, 10.0, 10.0)
    names = ("B04", "B03", "B02", "B08")
    rng = np.random.default_rng(42)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=len(names),
        dtype="uint16",
        crs="EPSG:32633",
        transform=transform,
        nodata=0,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
    ) as dst:
        step = 512
        cols = np.arange(size, dtype="float64")
        for row in range(0, size, step):
            rows = np.arange(row, min(row + step, size), dtype="float64")[:, None]
            field = 0.5 + 0.25 * np.sin(rows / 97.0) * np.cos(cols / 131.0)  # smooth "vegetation"
            noise = rng.normal(0.0, 0.02, size=(rows.shape[0], size))
            red = np.clip(1500 - 900 * field + 100 * noise, 1, 10000)
            nir = np.clip(1500 + 2500 * field + 200 * noise, 1, 10000)
            window = rasterio.windows.Window(0, row, size, rows.shape[0])
            for index, band in enumerate((red, red * 1.1, red * 1.2, nir), start=1):
                dst.write(band.astype("uint16"), index, window=window)
        for index, name in enumerate(names, start=1):
            dst.update_tags(index, DESCRIPTION=name)
        bounds = dst.bounds
    manifest = {
        "areas": [
            {
                "id": "synthetic",
                "title": f"Synthetic {size} x {size} scene",
                "file": path.name,
                "datetime": SYNTHETIC_DAY,
            }
        ]
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    w, s, e, n = rasterio.warp.transform_bounds("EPSG:32633", "EPSG:4326", *bounds)
    return (w, s, e, n)


def centred(bbox: tuple[float, float, float, float], area_fraction: float) -> dict[str, Any]:
    """A box of ``area_fraction`` of ``bbox``'s area around its centre, as a GeoJSON Feature."""
    w, s, e, n = bbox
    k = area_fraction**0.5
    cx, cy = (w + e) / 2, (s + n) / 2
    hw, hh = (e - w) * k / 2 * 0.999, (n - s) * k / 2 * 0.999
    x0, y0, x1, y1 = cx - hw, cy - hh, cx + hw, cy + hh
    return {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
    }


def wait_for_workers(url: str, timeout: float = 300.0) -> float:
    begin = time.monotonic()
    while len(requests.get(f"{url}/health", timeout=10).json().get("workers", [])) < 2:
        if time.monotonic() - begin > timeout:
            raise RuntimeError("workers not ready")
        time.sleep(0.1)
    return time.monotonic() - begin


def measure(
    url: str, bbox: tuple[float, float, float, float], day: str, repeat: int, out: Path
) -> dict[str, Any]:
    con = openeo.connect(url).authenticate_basic(DEFAULT_USER, DEFAULT_PASSWORD)
    rows: dict[str, Any] = {}
    for fraction in FRACTIONS:
        cube = (
            con.load_collection(
                "SENTINEL2_L2A",
                spatial_extent=centred(bbox, fraction),
                temporal_extent=day,
                bands=["B04", "B08"],
            )
            .ndvi()
            .resample_spatial(38.21851414258813, "EPSG:3857")
            .save_result("GTiff")
        )
        times = []
        pixels = 0
        for _ in range(repeat):
            begin = time.monotonic()
            job = cube.create_job()
            job.start_and_wait(max_poll_interval=0.05, print=lambda *_: None)
            files = job.get_results().download_files(out / job.job_id)
            times.append(time.monotonic() - begin)
            tif = next(f for f in files if f.suffix == ".tif")
            with rasterio.open(tif) as ds:
                pixels = ds.width * ds.height
        rows[f"{fraction:.4g}"] = {
            "median_s": statistics.median(times),
            "max_s": max(times),
            "output_pixels": pixels,
        }
    smallest = rows[f"{FRACTIONS[0]:.4g}"]["median_s"]
    for row in rows.values():
        row["ratio_vs_smallest"] = round(row["median_s"] / smallest, 2)
        row["median_s"] = round(row["median_s"], 3)
        row["max_s"] = round(row["max_s"], 3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=5000, help="synthetic scene width and height (pixels)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data_dir = Settings.load().sample_data_dir
    ensure_sample_data(data_dir)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with start_openeo_backend(root / "state-sample", data_dir) as sample:
            report["sample_workers_ready_s"] = round(wait_for_workers(sample.url), 2)
            report["bolzano_705x935"] = measure(sample.url, BOLZANO_BBOX, "2022-06-12", args.repeat, root)
        begin = time.monotonic()
        bbox = write_synthetic(root / "synthetic-data", args.size)
        report["synthetic_generation_s"] = round(time.monotonic() - begin, 2)
        with start_openeo_backend(root / "state-synthetic", root / "synthetic-data") as synthetic:
            report["synthetic_workers_ready_s"] = round(wait_for_workers(synthetic.url), 2)
            report[f"synthetic_{args.size}x{args.size}"] = measure(
                synthetic.url, bbox, SYNTHETIC_DAY, args.repeat, root
            )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
