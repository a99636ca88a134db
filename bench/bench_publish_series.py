"""Benchmark publishing a whole series: the Romanian forest's 140 dates, re-hosted as COGs, into the embedded
catalogue; item writes in bulk (``/bulk_items``) against single POSTs, measured in the same run (issue #15).

What one bench run does:

1. data: the Romanian Sentinel-2 series (140 dates 2015-2021, B4/B8, EPSG:3035, 100x100 px at 10 m; the
   project's provisioned copy ``Settings.sample_data_dir``, else ``../shared/data``, else
   :func:`apex_core.sampledata.ensure_sample_data`). Per date its NDVI (float32, NaN where B4/B8 are not
   finite, their sum is not positive or SCL says no data / saturated) is written as a GeoTIFF in a
   temporary folder: a job's 140 result files. Their facts are read once (``md.read_files``);
2. documents: a job-results-like collection and 140 items (one per date, ``datetime`` set, one GeoTIFF
   asset each whose href is a fake, expired openEO link: ``local_files`` maps it to the file, so
   re-hosting reads the local file). The publishable collection is built by the app's own code
   (``CollectionDraft.from_results`` + ``md.publishable``), items named ``{collection}_{YYYYMMDD}``;
3. the embedded issuer and catalogue are started (``start_issuer``/``start_catalogue``, as the tests do),
   a token taken for the issuer's editor account; then ``--rounds`` rounds, each publishing once with
   ``bulk=True`` and once with ``bulk=False`` (one POST per item: the baseline), the order alternating
   between rounds, each into a fresh collection id, with
   ``publish(client, plan, rehost_to=<catalogue assets url>, local_files=...)``;
4. after each publish: the collection's items listed back (GET, following ``next``): their count, their ids,
   and every asset href re-hosted under ``<assets url>/<collection id>/`` with a ``file:checksum``.

Per run it prints the total time, its parts from the progress callback's timestamps (``rehost``: the COG
conversion, check and PUT of the 140 files; ``collection``; ``items``: the item writes; ``verify``: reading
back), within ``rehost`` the COG conversion and the read-back check of each COG (``apex_core.assets``'s
``_to_cog``/``_verify_cog`` wrapped with a timer) and the asset PUT requests (the client's request log),
the item-write requests made, and items per second (whole publish, and item writes alone). A warm-up
publish of 3 dates per mode comes first, not counted. The summary gives the medians per mode and the
ratios bulk/single (times: < 1 is bulk faster; items/s: > 1 is bulk faster).

Run: ``.venv/bin/python bench/bench_publish_series.py [--rounds 2] [--dates 140]`` (``--dates 10`` for a
quick try). About 1 to 1.5 minutes with the defaults on a 2-core machine (four publishes of 140 items,
6 to 15 s each, most of it re-hosting), ~20 s of it importing, starting the services and writing the files.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apex_core import assets
from apex_core import metadata as md
from apex_core.catalogue import CatalogueClient
from apex_core.config import Settings
from apex_core.local.catalogue import start_catalogue
from apex_core.local.issuer import start_issuer
from apex_core.publish import PublishPlan, publish
from apex_core.sampledata import DEFAULT_SHARED_DIR, ensure_sample_data

T = 60
SERIES = "s2_l2a_romania_timeseries/sentinel2_cube_subset_romania_10m.nc"
INVALID_SCL = (0, 1)  # no data, saturated or defective
JOB = "j-bench-romania-series"
EXPIRED = 1577836800  # 2020-01-01: the job's signed links have long expired
LINK_BASE = f"http://127.0.0.1:9/openeo/1.2/jobs/{JOB}/results"
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
]


# --------------------------------------------------------------------------- data and documents


def series_file() -> Path:
    """The Romanian series: the project's provisioned copy, else the shared folder, else put in place."""
    provisioned = Settings.load().sample_data_dir
    for candidate in (provisioned / SERIES, DEFAULT_SHARED_DIR / SERIES):
        if candidate.is_file():
            return candidate
    ensure_sample_data(provisioned)
    return provisioned / SERIES


def write_ndvi_series(source: Path, out: Path, dates: int) -> list[dict[str, Any]]:
    """One NDVI GeoTIFF per date (the first ``dates``); per date: its day, file and geometry facts."""
    import rasterio
    import rasterio.warp
    import xarray as xr
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    with xr.open_dataset(source) as ds:
        ds = ds.isel(time=slice(0, dates))
        xs, ys = ds["x"].values, ds["y"].values
        times = [str(np.datetime_as_string(t, unit="D")) for t in ds["time"].values]
        b4 = ds["B4"].values.astype("float32")
        b8 = ds["B8"].values.astype("float32")
        scl = ds["SCL"].values
    res_x, res_y = float(abs(xs[1] - xs[0])), float(abs(ys[1] - ys[0]))
    west, north = float(xs.min()) - res_x / 2, float(ys.max()) + res_y / 2
    height, width = b4.shape[1:]
    bounds = (west, north - height * res_y, west + width * res_x, north)
    crs = CRS.from_epsg(3035)
    wgs84 = rasterio.warp.transform_bounds(crs, "EPSG:4326", *bounds)
    total = b4 + b8
    valid = np.isfinite(b4) & np.isfinite(b8) & (total > 0) & ~np.isin(scl, INVALID_SCL)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = np.where(valid, (b8 - b4) / total, np.nan).astype("float32")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": from_origin(west, north, res_x, res_y),
        "nodata": float("nan"),
        "compress": "deflate",
    }
    out.mkdir(parents=True, exist_ok=True)
    dates_out = []
    for i, day in enumerate(times):
        path = out / f"openEO_{day}Z.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(ndvi[i], 1)
            dst.set_band_description(1, "NDVI")
        dates_out.append(
            {"day": day, "path": path, "bounds": bounds, "wgs84": wgs84, "shape": [height, width]}
        )
    return dates_out


def job_documents(
    dates: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Path]]:
    """A job-results-like collection, its items (one per date), and the asset hrefs' local files."""
    w, s, e, n = (round(v, 6) for v in dates[0]["wgs84"])
    geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    items, local = [], {}
    for d in dates:
        name = d["path"].name
        iid = name.removesuffix(".tif")
        href = f"{LINK_BASE}/assets/ZGVtbw==/{uuid.uuid4().hex}/{name}?expires={EXPIRED}"
        local[href] = d["path"]
        items.append(
            {
                "type": "Feature",
                "stac_version": "1.1.0",
                "stac_extensions": EXTENSIONS,
                "id": iid,
                "collection": JOB,
                "bbox": [w, s, e, n],
                "geometry": geometry,
                "properties": {
                    "datetime": f"{d['day']}T00:00:00Z",
                    "proj:epsg": 3035,
                    "proj:shape": d["shape"],
                    "proj:bbox": list(d["bounds"]),
                },
                "assets": {
                    name: {
                        "href": href,
                        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                        "roles": ["data"],
                        "title": name,
                        "bands": [{"name": "NDVI"}],
                        "eo:bands": [{"name": "NDVI"}],
                        "file:size": d["path"].stat().st_size,
                        "proj:epsg": 3035,
                        "proj:shape": d["shape"],
                        "proj:bbox": list(d["bounds"]),
                    }
                },
                "links": [
                    {"rel": "self", "href": f"{LINK_BASE}/items/{iid}", "type": "application/geo+json"},
                    {"rel": "collection", "href": LINK_BASE, "type": "application/json"},
                ],
            }
        )
    results = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": JOB,
        "title": "NDVI per observation, forest in south-western Romania",
        "description": f"Results for batch job {JOB}: one NDVI per Sentinel-2 observation (bench).",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[w, s, e, n]]},
            "temporal": {"interval": [[f"{dates[0]['day']}T00:00:00Z", f"{dates[-1]['day']}T00:00:00Z"]]},
        },
        "links": [
            {"rel": "self", "href": LINK_BASE, "type": "application/json"},
            *(
                {"rel": "item", "href": f"{LINK_BASE}/items/{i['id']}", "type": "application/geo+json"}
                for i in items
            ),
        ],
        "openeo:status": "finished",
    }
    return results, items, local


# --------------------------------------------------------------------------- one publish


class Timed:
    """Seconds spent in a function of :mod:`apex_core.assets` (its module attribute wrapped: rehost_assets
    calls ``_to_cog``, which calls ``_verify_cog``, by name), to say where re-hosting's time goes."""

    def __init__(self, name: str) -> None:
        self.seconds = 0.0
        original = getattr(assets, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        setattr(assets, name, timed)


COG = Timed("_to_cog")  # conversion with rio-cogeo, and the read-back check below
CHECK = Timed("_verify_cog")  # the read-back check of the written COG (EXPLORER-REC-01/02/03)


@dataclass
class Run:
    mode: str  # "bulk" | "single"
    round: int
    items: int
    build: float  # draft + publishable (not part of the publish time)
    total: float
    rehost: float
    rehost_cog: float  # COG conversion (rio-cogeo), inside rehost
    rehost_check: float  # reading each COG back to check its layout, inside rehost
    rehost_puts: float  # sum of the asset PUT requests' times, inside rehost
    collection: float
    writes: float
    verify: float
    write_requests: int
    check: str
    ok: bool

    @property
    def rate(self) -> float:
        return self.items / self.total

    @property
    def write_rate(self) -> float:
        return self.items / self.writes if self.writes > 0 else float("inf")


def publish_once(
    cat: Any,
    token: str,
    results: dict[str, Any],
    items: list[dict[str, Any]],
    local: dict[str, Path],
    files: dict[str, Any],
    mode: str,
    rnd: int,
) -> Run:
    cid = f"bench-series-{mode}-r{rnd}-{uuid.uuid4().hex[:6]}"
    t0 = time.monotonic()
    draft = md.CollectionDraft.from_results(results, items, new_id=cid)
    pub = md.publishable(draft, results, items, files)
    plan = PublishPlan.from_dict({"collection": pub.collection, "items": list(pub.items)})
    build = time.monotonic() - t0
    day = str(items[0]["properties"]["datetime"])[:10].replace("-", "")
    if plan.item_ids[0] != f"{cid}_{day}":
        raise RuntimeError(f"items not named {{collection}}_{{date}}: {plan.item_ids[:3]}")

    marks: list[tuple[float, str]] = []

    def progress(done: int, total: int, message: str) -> None:
        marks.append((time.monotonic(), message))

    client = CatalogueClient(cat.url, token, timeout=T)
    cog0, check0 = COG.seconds, CHECK.seconds
    t0 = time.monotonic()
    result = publish(
        client, plan, rehost_to=cat.assets_url, local_files=local, bulk=mode == "bulk", progress=progress
    )
    end = time.monotonic()
    if not result.ok:
        raise RuntimeError(f"{mode} publish of {cid} stopped: {result.error}")

    def at(*suffixes: str) -> float:
        found = [t for t, m in marks if m.endswith(suffixes)]
        if not found:
            raise RuntimeError(f"no progress message ending {suffixes} in {[m for _, m in marks][:8]}")
        return found[-1]

    t_rehost = at("assets re-hosted.")
    t_collection = at(f"Collection {cid} created.")
    t_items = at("items written (bulk).", " created.") if mode == "bulk" else at(" created.")
    t_items = max(t_items, t_collection)
    assets_prefix = cat.assets_url.rstrip("/") + "/"
    puts = sum(e.ms for e in client.log if e.method == "PUT" and e.url.startswith(assets_prefix)) / 1000
    writes = [
        e
        for e in client.log
        if e.method == "POST" and (e.url.endswith("/bulk_items") or e.url.endswith(f"/{cid}/items"))
    ]

    # the check: list the items back, count them, every href re-hosted under the collection
    stored = CatalogueClient(cat.url, token, timeout=T).items(cid)
    hrefs = [a for doc in stored.values() for a in (doc.get("assets") or {}).values() if isinstance(a, dict)]
    hosted = [
        a
        for a in hrefs
        if str(a.get("href", "")).startswith(f"{assets_prefix}{cid}/") and a.get("file:checksum")
    ]
    ids_ok = set(stored) == set(plan.item_ids)
    ok = len(stored) == len(items) and ids_ok and len(hosted) == len(hrefs) == len(items)
    check = (
        f"{len(stored)}/{len(items)} items listed back, ids {'match' if ids_ok else 'DIFFER'}, "
        f"{len(hosted)}/{len(hrefs)} asset hrefs re-hosted: {'ok' if ok else 'FAILED'}"
    )
    return Run(
        mode=mode,
        round=rnd,
        items=len(items),
        build=build,
        total=end - t0,
        rehost=t_rehost - t0,
        rehost_cog=COG.seconds - cog0 - (CHECK.seconds - check0),
        rehost_check=CHECK.seconds - check0,
        rehost_puts=puts,
        collection=t_collection - t_rehost,
        writes=t_items - t_collection,
        verify=end - t_items,
        write_requests=len(writes),
        check=check,
        ok=ok,
    )


def print_run(run: Run) -> None:
    print(
        f"round {run.round} {run.mode:<6} {run.total:5.1f} s, {run.rate:5.1f} items/s | rehost "
        f"{run.rehost:4.1f} s (COG {run.rehost_cog:4.1f}, check {run.rehost_check:4.1f}, PUTs "
        f"{run.rehost_puts:4.1f}) | collection {run.collection:4.2f} s | item writes {run.writes:5.2f} s "
        f"in {run.write_requests:3d} requests ({run.write_rate:5.1f} items/s) | verify {run.verify:4.2f} s",
        flush=True,
    )
    print(f"               check: {run.check}; documents built in {run.build:.2f} s", flush=True)


def median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each publishing once per mode")
    parser.add_argument("--dates", type=int, default=140, help="the first N dates of the series (max 140)")
    args = parser.parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="apex-bench-series-"))
    root.chmod(0o711)  # the postgres user traverses it
    try:
        t0 = time.monotonic()
        source = series_file()
        dates = write_ndvi_series(source, root / "results", args.dates)
        written = time.monotonic() - t0
        results, items, local = job_documents(dates)
        t0 = time.monotonic()
        files = dict(md.read_files(local))
        facts = time.monotonic() - t0
        size = sum(p.stat().st_size for p in local.values())
        print(
            f"series: {len(items)} dates {dates[0]['day']}..{dates[-1]['day']} from {source}; "
            f"{len(items)} NDVI GeoTIFFs ({size / 1e6:.1f} MB) written in {written:.1f} s, "
            f"their facts read in {facts:.1f} s",
            flush=True,
        )
        issuer = start_issuer(root / "issuer")
        try:
            t0 = time.monotonic()
            cat = start_catalogue(root / "cat", issuer.issuer_url, audience=issuer.audience)
            print(f"catalogue started in {time.monotonic() - t0:.1f} s: {cat.url}", flush=True)
            try:
                editor = issuer.client("editor")
                resp = requests.post(
                    issuer.token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(editor.client_id, editor.client_secret),
                    timeout=T,
                )
                resp.raise_for_status()
                token = resp.json()["access_token"]
                # warm-up, not counted: first token check, connections, GDAL and rio-cogeo, the API's caches
                few = min(3, len(items))
                warm = {i["assets"][k]["href"] for i in items[:few] for k in i["assets"]}
                for mode in ("bulk", "single"):
                    publish_once(
                        cat, token, results, items[:few], {h: local[h] for h in warm}, files, mode, 0
                    )
                runs: list[Run] = []
                for rnd in range(1, args.rounds + 1):
                    order = ("bulk", "single") if rnd % 2 else ("single", "bulk")
                    for mode in order:
                        run = publish_once(cat, token, results, items, local, files, mode, rnd)
                        print_run(run)
                        runs.append(run)
            finally:
                cat.stop()
        finally:
            issuer.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    bulk = [r for r in runs if r.mode == "bulk"]
    single = [r for r in runs if r.mode == "single"]
    print()
    print(f"medians of {args.rounds} rounds, {len(items)} items each:")
    rows = [
        ("total publish", "total", "s"),
        ("  rehost (COG + check + PUT)", "rehost", "s"),
        ("    COG conversion", "rehost_cog", "s"),
        ("    COG read-back check", "rehost_check", "s"),
        ("    asset PUTs", "rehost_puts", "s"),
        ("  item writes", "writes", "s"),
        ("  verify", "verify", "s"),
        ("items/s (whole publish)", "rate", "items/s"),
        ("items/s (item writes)", "write_rate", "items/s"),
    ]
    print(f"{'':<30} {'bulk':>10} {'single':>10} {'bulk/single':>12}")
    for label, attr, unit in rows:
        b, s = median(bulk, attr), median(single, attr)
        ratio = b / s if s else float("nan")
        print(f"{label:<30} {b:>10.2f} {s:>10.2f} {ratio:>11.2f}x  ({unit})")
    speed = median(bulk, "rate") / median(single, "rate")
    writes = median(bulk, "write_rate") / median(single, "write_rate")
    print(
        f"bulk vs single POSTs: whole publish {speed:.2f}x the items/s, item writes alone {writes:.1f}x; "
        f"checks {'all ok' if all(r.ok for r in runs) else 'FAILED'}; "
        f"bench took {time.monotonic() - started:.0f} s"
    )
    if not all(r.ok for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
