"""The Metadata step on a live job of the embedded openEO backend (``pytest -m services``).

The notebook's NDVI batch job runs on the real backend; its results document and the item behind its
signed ``item`` link are fetched over HTTP by apex_core.metadata, cleaned, validated, and the signed
asset link is checked for reachability and expiry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import openeo
import pytest

from apex_core import metadata as md
from apex_core.config import Settings
from apex_core.flow import JobOutcome
from apex_core.local.openeo.service import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    OpenEoBackendService,
    start_openeo_backend,
)

pytestmark = pytest.mark.services

AOI = {
    "type": "Polygon",
    "coordinates": [[[11.30, 46.47], [11.38, 46.47], [11.38, 46.51], [11.30, 46.51], [11.30, 46.47]]],
}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenEoBackendService]:
    service = start_openeo_backend(tmp_path_factory.mktemp("openeo-state"), Settings.load().sample_data_dir)
    yield service
    service.stop()


def test_live_job_results_to_a_valid_collection(backend: OpenEoBackendService, tmp_path: Path) -> None:
    con = openeo.connect(backend.url).authenticate_basic(DEFAULT_USER, DEFAULT_PASSWORD)
    cube = con.load_collection(
        "SENTINEL2_L2A", spatial_extent=AOI, temporal_extent="2022-06-12", bands=["B04", "B08"]
    )
    cube = cube.ndvi().resample_spatial(38.21851414258813, "EPSG:3857").save_result("GTiff")
    job = cube.create_job(title="APEx Demo - Bolzano - NDVI")
    job.start_and_wait(max_poll_interval=0.5, print=lambda *_: None)

    # The Job page's contract: the results document on disk, the rest fetched from its signed links.
    path = tmp_path / "job-results.json"
    path.write_text(json.dumps(job.get_results().get_metadata()))
    state = JobOutcome(job.job_id, "finished", metadata_path=path)
    loaded = md.results_from_job(state, timeout=10)
    assert loaded.problems == ()
    assert [i["type"] for i in loaded.items] == ["Feature"]

    draft = md.CollectionDraft.from_results(loaded.results, loaded.items)
    assert draft.id == "apex_demo_bolzano_ndvi"
    assert draft.license == "CC-BY-4.0"
    pub = draft.apply(loaded.results, loaded.items)
    assert all(i["collection"] == "apex_demo_bolzano_ndvi" for i in pub.items)
    assert not {link["rel"] for o in (pub.collection, *pub.items) for link in o["links"]} & md.SERVER_RELS
    assert all(c.ok for c in md.validate_stac(pub.collection, pub.items))

    expiries = md.asset_expiries(pub.collection, pub.items)
    assert expiries
    assert {e.status for e in expiries} == {"ok"}  # openEO-signed links: about 7 days
    assert all(
        e.expires_at and e.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(days=1) for e in expiries
    )
    reach = md.check_reachable(
        [href for _o, _k, href in md.asset_hrefs(pub.collection, pub.items)], timeout=10
    )
    assert [r.ok for r in reach] == [True], reach


ROMANIA = {
    "type": "Polygon",
    "coordinates": [
        [[22.146, 45.202], [22.158, 45.202], [22.158, 45.208], [22.146, 45.208], [22.146, 45.202]]
    ],
}


def test_a_composite_is_one_item_whose_interval_is_the_range(
    backend: OpenEoBackendService, tmp_path: Path
) -> None:
    """The median NDVI over June to August 2019 (cloud-masked): one item, named by its interval, whose
    start and end are the range, valid, with the composite's own statistics."""
    from apex_core.jobs import download_results
    from apex_core.ndvi import NdviRequest, build_ndvi_cube

    con = openeo.connect(backend.url).authenticate_basic(DEFAULT_USER, DEFAULT_PASSWORD)
    request = NdviRequest(
        ROMANIA, dt.date(2019, 6, 1), dt.date(2019, 8, 31), native=True, mask_clouds=True, composite="median"
    )
    job = build_ndvi_cube(request, con).create_job(title="Romania median NDVI")
    job.start_and_wait(max_poll_interval=0.5, print=lambda *_: None)
    outcome = download_results(con, job.job_id, tmp_path)
    assert len(outcome.assets) == 1
    (result,) = outcome.assets
    assert (str(result.datetime)[:10], str(result.end)[:10]) == ("2019-06-01", "2019-08-31")
    assert result.label.endswith("(2019-06-01 to 2019-08-31)")
    loaded = md.results_from_job(outcome, timeout=10)
    paths = {a["href"]: outcome.assets[0].path for i in loaded.items for a in i["assets"].values()}
    files = dict(md.read_files(paths))
    draft = md.CollectionDraft.from_results(loaded.results, loaded.items)
    ev = md.evaluate(draft, loaded.results, loaded.items, files=files)
    assert ev.publishable is not None and ev.valid, [c for c in ev.checks if not c.ok]
    (item,) = ev.publishable.items
    props = item["properties"]
    assert props["start_datetime"][:10] == "2019-06-01" and props["end_datetime"][:10] == "2019-08-31"
    assert item["id"] == f"{draft.id}_20190601-20190831"
    (asset,) = item["assets"].values()
    (facts,) = files.values()
    assert facts.raster is not None
    assert asset["raster:bands"][0]["statistics"] == facts.raster.statistics
