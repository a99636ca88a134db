"""Benchmark the Preview: overlay + histogram + statistics of a 6000 x 5300 float32 NDVI GeoTIFF
(the size of the real Gran Canaria output), against a naive full read + full-resolution render.

Cases, each in a fresh subprocess (clean peak RSS, cold GDAL cache, first view as a user sees it):

- ``preview-cog``: :func:`apex_core.preview.compute_preview` on a tiled COG with internal overviews
  (rio-cogeo);
- ``preview-striped``: the same on a striped, non-tiled GeoTIFF without overviews;
- ``naive-cog`` / ``naive-striped``: the same function told to read everything (no decimation,
  exact statistics, full-resolution reprojection, colouring and PNG): what a page that simply
  ``read()``s the file would do.

``seconds`` is the first (cold) call in the process, as a user's first view; ``warm s`` a second
call of the preview cases (GDAL and PROJ initialised). Peak memory is the growth of the process's
peak RSS (VmHWM, reset after the imports; ``ru_maxrss`` where /proc is missing) over its RSS after the
imports, plus tracemalloc's peak of Python/numpy allocations. Goal for ``preview-cog``: under 1 s,
under 250 MB above baseline, at least 10x faster than the naive path.

Run: ``.venv/bin/python bench/bench_preview.py [--width 6000 --height 5300] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = ("preview-cog", "preview-striped", "naive-cog", "naive-striped")


def make_rasters(folder: Path, width: int, height: int) -> dict[str, Path]:
    """A smooth NDVI-like field with noise, a nodata corner (NaN) and a few CDSE-like outliers."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(42)
    y = np.linspace(0, 3 * np.pi, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 4 * np.pi, width, dtype=np.float32)[None, :]
    ndvi = 0.35 + 0.45 * np.sin(x) * np.cos(y)
    ndvi += rng.normal(0, 0.05, size=(height, width)).astype(np.float32)
    ndvi[: height // 6, : width // 5] = np.nan  # nodata (e.g. the sea around an island)
    ndvi[rng.integers(0, height, 500), rng.integers(0, width, 500)] = -161.0
    ndvi[rng.integers(0, height, 500), rng.integers(0, width, 500)] = 73.0
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
        "crs": "EPSG:32628", "transform": from_origin(420000, 3130000, 10, 10), "nodata": float("nan"),
        "compress": "deflate", "predictor": 3, "tiled": False,
    }  # fmt: skip
    striped = folder / "ndvi_striped.tif"
    with rasterio.open(striped, "w", **profile) as dst:
        dst.write(ndvi.astype(np.float32), 1)
    cog = folder / "ndvi_cog.tif"
    cog_profile = cog_profiles.get("deflate")
    cog_profile.update(predictor=3, blockxsize=512, blockysize=512)
    cog_translate(str(striped), str(cog), cog_profile, overview_resampling="nearest", quiet=True)
    return {"striped": striped, "cog": cog}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_case(case: str, path: Path) -> dict[str, Any]:
    """One case in this (fresh) process: time and memory of one preview computation."""
    from apex_core.preview import compute_preview

    # Baseline: RSS after the imports, with the high-water mark reset so that import-time peaks
    # do not hide the case's own peak. Without /proc, ru_maxrss (which may include them).
    if _reset_peak_rss():
        baseline_kb, peak_field = _status_kb("VmRSS"), "VmHWM"
    else:
        baseline_kb, peak_field = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ""
    tracemalloc.start()
    start = time.perf_counter()
    if case.startswith("naive"):
        preview = compute_preview(path, max_size=10**9, exact_limit=10**12)
    else:
        preview = compute_preview(path)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_kb = _status_kb(peak_field) if peak_field else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    warm = None
    if not case.startswith("naive"):  # again, with GDAL/PROJ initialised (what a rerun would cost uncached)
        start = time.perf_counter()
        compute_preview(path)
        warm = time.perf_counter() - start
    stats = preview.statistics
    return {
        "case": case,
        "seconds": seconds,
        "warm_seconds": warm,
        "peak_rss_mb": (peak_kb - baseline_kb) / 1024,
        "traced_peak_mb": traced_peak / 2**20,
        "read_shape": list(stats.shape),
        "overlay_shape": list(preview.overlay.shape),
        "png_kb": len(preview.overlay.png) / 1024,
        "mean": stats.mean,
        "valid_percent": stats.valid_percent,
        "clipped": stats.clipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=5300)
    parser.add_argument("--keep", type=Path, help="write the rasters here and keep them")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # child process
        print(json.dumps(run_case(args.case, args.path)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        files = make_rasters(folder, args.width, args.height)
        sizes = ", ".join(f"{k} {p.stat().st_size / 2**20:.0f} MB" for k, p in files.items())
        took = time.perf_counter() - start
        print(f"{args.width} x {args.height} float32 written in {took:.1f} s ({sizes})")
        results: dict[str, dict[str, Any]] = {}
        for case in CASES:
            path = files[case.split("-")[1]]
            argv = [sys.executable, __file__, "--case", case, "--path", str(path)]
            child = subprocess.run(argv, check=False, capture_output=True, text=True)
            if child.returncode != 0:
                sys.exit(f"case {case} failed:\n{child.stderr}")
            results[case] = json.loads(child.stdout.strip().splitlines()[-1])

    head = ("case", "seconds", "warm s", "peak RSS +MB", "traced MB", "read", "PNG kB")
    print("\n{:16} {:>8} {:>7} {:>13} {:>10} {:>11} {:>8}".format(*head))
    for r in results.values():
        shape = "x".join(str(n) for n in reversed(r["read_shape"]))
        warm = "-" if r["warm_seconds"] is None else f"{r['warm_seconds']:.3f}"
        print(
            f"{r['case']:16} {r['seconds']:8.3f} {warm:>7} {r['peak_rss_mb']:13.0f} "
            f"{r['traced_peak_mb']:10.0f} {shape:>11} {r['png_kb']:8.0f}"
        )
    fast, naive = results["preview-cog"], results["naive-cog"]
    print()
    for slow_case, fast_case in (("naive-cog", "preview-cog"), ("naive-striped", "preview-striped")):
        ratio = results[slow_case]["seconds"] / results[fast_case]["seconds"]
        print(f"{fast_case} is {ratio:.1f}x faster than {slow_case}")
    goal = fast["seconds"] < 1 and fast["peak_rss_mb"] < 250 and naive["seconds"] / fast["seconds"] >= 10
    print(f"goal (COG preview < 1 s, < 250 MB, >= 10x naive): {'met' if goal else 'NOT met'}")
    for key in ("mean", "valid_percent"):
        print(f"{key}: overview {fast[key]:.4f} vs exact {naive[key]:.4f}")


if __name__ == "__main__":
    main()
