"""Benchmark the Catalogue page's quicklook: a large COG read over HTTP, decimated, against a full-resolution
read of the same file over HTTP (the baseline), both measured in this run.

The file (default 6000 x 5300 float32, deflate, 512 px tiles, internal overviews; the size of the real
Gran Canaria output) is served from memory by a loopback HTTP server that answers ``Range`` requests and
counts the body bytes it sends. Cases, each repeated ``--repeat`` times (GDAL's HTTP cache is off for
these reads, so every run fetches its bytes again):

- ``quicklook``: :func:`apex_core.quicklook.quicklook` (band 1 at most ``--max-size`` px a side, coloured,
  reprojected, PNG);
- ``full-read``: ``rasterio`` reading band 1 whole over ``/vsicurl/`` with the same GDAL options: what a
  page that simply ``read()``s the remote file would fetch before drawing anything.

Printed: the median seconds, bytes served and requests of each, and the ratios quicklook / full read.

Run: ``.venv/bin/python bench/bench_quicklook.py [--width 6000 --height 5300 --max-size 512 --repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.services import Served, serving


def make_cog(folder: Path, width: int, height: int) -> Path:
    """A smooth NDVI-like field with noise and a nodata corner, as a COG (as bench_preview.py makes it)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(42)
    y = np.linspace(0, 3 * np.pi, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 4 * np.pi, width, dtype=np.float32)[None, :]
    ndvi = 0.35 + 0.45 * np.sin(x) * np.cos(y) + rng.normal(0, 0.05, size=(height, width)).astype(np.float32)
    ndvi[: height // 6, : width // 5] = np.nan
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
        "crs": "EPSG:32628", "transform": from_origin(420000, 3130000, 10, 10), "nodata": float("nan"),
    }  # fmt: skip
    plain = folder / "plain.tif"
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(ndvi.astype(np.float32), 1)
    cog = folder / "ndvi_cog.tif"
    cog_profile = cog_profiles.get("deflate")
    cog_profile.update(predictor=3, blockxsize=512, blockysize=512)
    cog_translate(str(plain), str(cog), cog_profile, overview_resampling="nearest", quiet=True)
    plain.unlink()
    return cog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=5300)
    parser.add_argument("--max-size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import rasterio

    from apex_core.quicklook import gdal_options, quicklook

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cog = make_cog(Path(tmp), args.width, args.height)
        body = cog.read_bytes()
        took = time.perf_counter() - start
    print(f"{args.width} x {args.height} float32 COG: {len(body) / 2**20:.1f} MB, written in {took:.1f} s")

    served = Served(files={"/ndvi_cog.tif": body})
    results: dict[str, dict[str, Any]] = {}
    with serving(served) as base:
        url = base + "/ndvi_cog.tif"
        item = {
            "id": "bench",
            "assets": {"ndvi": {"href": url, "type": "image/tiff; application=geotiff", "roles": ["data"]}},
        }

        def run_quicklook() -> str:
            look = quicklook(item, {}, max_size=args.max_size, timeout=60)
            return "x".join(map(str, reversed(look.read_shape)))

        def run_full() -> str:
            with rasterio.Env(**gdal_options(url, 60)), rasterio.open("/vsicurl/" + url) as src:
                data = src.read(1, masked=True)
            return "x".join(map(str, reversed(data.shape)))

        for case, run in (("quicklook", run_quicklook), ("full-read", run_full)):
            runs = []
            for _ in range(args.repeat):
                served.requests.clear()
                start = time.perf_counter()
                shape = run()
                seconds = time.perf_counter() - start
                runs.append((seconds, served.bytes_sent, len(served.requests)))
            results[case] = {
                "seconds": statistics.median(r[0] for r in runs),
                "bytes": statistics.median(r[1] for r in runs),
                "requests": statistics.median(r[2] for r in runs),
                "shape": shape,
            }

    print(f"\n{'case':10} {'seconds':>8} {'MB served':>10} {'% of file':>9} {'requests':>8} {'read':>10}")
    for case, r in results.items():
        print(
            f"{case:10} {r['seconds']:8.3f} {r['bytes'] / 2**20:10.2f} {100 * r['bytes'] / len(body):9.1f} "
            f"{r['requests']:8.0f} {r['shape']:>10}"
        )
    quick, full = results["quicklook"], results["full-read"]
    print(
        f"\nquicklook / full read: time {quick['seconds'] / full['seconds']:.3f} "
        f"({full['seconds'] / quick['seconds']:.1f}x faster), bytes {quick['bytes'] / full['bytes']:.4f} "
        f"({full['bytes'] / max(1, quick['bytes']):.0f}x fewer)"
    )


if __name__ == "__main__":
    main()
