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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_preview import make_rasters

from tests.services import Served, serving


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
        cog = make_rasters(Path(tmp), args.width, args.height)["cog"]  # bench_preview's COG
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
