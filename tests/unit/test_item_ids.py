"""Items named by a pattern: ``{collection}_{date}`` by default, unique, every item with its three times."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from apex_core import metadata as md
from apex_core.metadata.ids import DEFAULT_ITEM_IDS, check_item_pattern, item_ids
from tests.stacdocs import embedded_job_item, embedded_job_results


def _item(iid: str, start: str | None, end: str | None = None, when: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"datetime": when}
    if start:
        props.update(start_datetime=start, end_datetime=end or start)
    return {"id": iid, "properties": props}


def test_default_names_are_collection_and_date() -> None:
    items = [
        _item("openEO_2019-06-03Z", None, when="2019-06-03T09:20:00Z"),
        _item("openEO_2019-06-08Z", None, when="2019-06-08T09:20:00Z"),
        _item("openEO", "2019-06-01T00:00:00Z", "2019-08-31T23:59:59Z"),  # a composite: its interval
    ]
    assert item_ids(DEFAULT_ITEM_IDS, "romania_ndvi", items) == [
        "romania_ndvi_20190603",
        "romania_ndvi_20190608",
        "romania_ndvi_20190601-20190831",
    ]


def test_names_are_unique_and_an_item_without_date_keeps_its_own() -> None:
    items = [
        _item("a", None, when="2022-06-12T10:00:00Z"),
        _item("b", None, when="2022-06-12T10:05:00Z"),  # two scenes of one day
        _item("c", None),
        _item("c", None),
    ]
    assert item_ids(DEFAULT_ITEM_IDS, "bz", items) == ["bz_20220612", "bz_20220612_2", "c", "c_2"]
    assert item_ids("{collection}-{n}", "bz", items) == ["bz-1", "bz-2", "bz-3", "bz-4"]
    assert item_ids("{original}", "bz", items) == ["a", "b", "c", "c_2"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "Give a pattern"),
        ("{collection}_{day}", "Unknown field(s) day"),
        ("{collection}", "must tell items apart"),
        ("{collection", "not valid"),
    ],
)
def test_bad_patterns_are_explained(pattern: str, message: str) -> None:
    problem = check_item_pattern(pattern)
    assert problem is not None and message in problem
    draft = replace(md.CollectionDraft.from_results(embedded_job_results()), item_ids=pattern)
    assert [i.field for i in md.check_draft(draft) if i.severity == "error"] == ["item_ids"]


def test_the_built_items_are_named_and_carry_their_three_times() -> None:
    results, item = embedded_job_results(), embedded_job_item()
    draft = md.CollectionDraft.from_results(results, [item])
    pub = md.publishable(draft, results, [item])
    (built,) = pub.items
    day = item["properties"]["datetime"][:10].replace("-", "")
    assert built["id"] == f"{draft.id}_{day}"
    props = built["properties"]
    assert (
        props["start_datetime"]
        == props["end_datetime"]
        == props["datetime"]
        == item["properties"]["datetime"]
    )
    assert any("items named by the pattern" in n for n in pub.notes)
    again = md.CollectionDraft.from_dict(draft.to_dict())
    assert again.item_ids == DEFAULT_ITEM_IDS
    old = {k: v for k, v in draft.to_dict().items() if k != "item_ids"}  # a draft saved before patterns
    assert md.CollectionDraft.from_dict(old).item_ids == DEFAULT_ITEM_IDS
    own = md.publishable(replace(draft, item_ids="{original}"), results, [item])
    assert own.items[0]["id"] == item["id"]


def test_each_observation_of_a_series_carries_its_own_statistics(tmp_path: Any) -> None:
    """One job, two dates: each item's statistics are its own file's (not the Preview's for one date),
    and the other fields of its raster:bands stay."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from apex_core.resultfile import read_facts

    results = embedded_job_results()
    base = embedded_job_item()
    items, files = [], {}
    for n, (day, value) in enumerate((("2019-06-03", 0.25), ("2019-06-08", 0.75))):
        path = tmp_path / f"openEO_{day}Z.tif"
        profile = {"driver": "GTiff", "width": 4, "height": 2, "count": 1, "dtype": "float32",
                   "crs": "EPSG:3035", "transform": from_origin(5271987, 2532999, 10, 10),
                   "nodata": float("nan")}  # fmt: skip
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.full((1, 2, 4), value, dtype=np.float32))
        item = {
            **base,
            "id": f"openEO_{n}",
            "properties": {**base["properties"], "datetime": f"{day}T09:00:00Z"},
        }
        asset = dict(next(iter(base["assets"].values())), href=f"https://x/{path.name}")
        asset["raster:bands"] = [{"name": "NDVI", "data_type": "float32", "nodata": "nan"}]
        item["assets"] = {path.name: asset}
        items.append(item)
        files[asset["href"]] = read_facts(path)
    draft = md.CollectionDraft.from_results(results, items)
    pub = md.publishable(draft, results, items, files)
    means = []
    for built in pub.items:
        (asset,) = built["assets"].values()
        (band,) = asset["raster:bands"]
        assert band["data_type"] == "float32" and band["nodata"] == "nan" and band["name"] == "NDVI"
        means.append(band["statistics"]["mean"])
    assert means == pytest.approx([0.25, 0.75])
    assert [b["id"] for b in pub.items] == [f"{draft.id}_20190603", f"{draft.id}_20190608"]


@pytest.mark.parametrize("pattern", ["{collection}_{n:03d}", "{date!r}", "{date:>30}"])
def test_format_specs_and_conversions_are_refused(pattern: str) -> None:
    problem = check_item_pattern(pattern)
    assert problem is not None and "no format specs or conversions" in problem
    draft = replace(md.CollectionDraft.from_results(embedded_job_results()), item_ids=pattern)
    ev = md.evaluate(draft, embedded_job_results(), [embedded_job_item()])  # no crash: a field error
    assert [i.field for i in ev.errors] == ["item_ids"] and ev.publishable is None
