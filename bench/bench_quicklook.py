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
import http.server
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bytes = 0
        self.requests = 0

    def reset(self) -> tuple[int, int]:
        with self.lock:
            out = (self.bytes, self.requests)
            self.bytes = self.requests = 0
            return out


def handler_for(body: bytes, counter: Counter) -> type[http.server.BaseHTTPRequestHandler]:
    size = len(body)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, head: bool) -> None:
            with counter.lock:
                counter.requests += 1
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
                part = body[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                part = body
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "image/tiff")
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            for i in range(0, 0 if head else len(part), 1 << 16):
                chunk = part[i : i + (1 << 16)]
                try:
                    self.wfile.write(chunk)
                except OSError:
                    self.close_connection = True
                    return
                with counter.lock:
                    counter.bytes += len(chunk)

        def do_GET(self) -> None:
            self._answer(False)

        def do_HEAD(self) -> None:
            self._answer(True)

    return Handler


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

    counter = Counter()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(body, counter))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ndvi_cog.tif"
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

    results: dict[str, dict[str, Any]] = {}
    try:
        for case, run in (("quicklook", run_quicklook), ("full-read", run_full)):
            runs = []
            for _ in range(args.repeat):
                counter.reset()
                start = time.perf_counter()
                shape = run()
                seconds = time.perf_counter() - start
                sent, requests = counter.reset()
                runs.append((seconds, sent, requests))
            results[case] = {
                "seconds": statistics.median(r[0] for r in runs),
                "bytes": statistics.median(r[1] for r in runs),
                "requests": statistics.median(r[2] for r in runs),
                "shape": shape,
            }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

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
