"""The app's NDVI graph equals the notebook's, built with the openeo client exactly as the notebook does;
date ranges, the SCL cloud mask and composites add the standard openEO processes, and the Python snippet
shown builds exactly the graph submitted."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from openeo.rest.datacube import DataCube

from apex_core.aoi import NOTEBOOK_BBOX, NOTEBOOK_DATE, Aoi
from apex_core.ndvi import (
    COMPOSITES,
    MASK_CLASSES,
    REQUIRED_PROCESSES,
    NdviRequest,
    build_ndvi_cube,
    default_title,
    process_graph,
    python_snippet,
    required_processes,
)

CDSE = "https://openeo.dataspace.copernicus.eu"
AOI = Aoi.from_bbox(*NOTEBOOK_BBOX)


def _notebook_graph(spatial_extent: dict, day: str, next_day: str, *, tilesize: bool) -> dict:
    """The notebook's cell, offline (no connection: the same client calls, no metadata fetch)."""
    s2_cube = DataCube.load_collection(
        "SENTINEL2_L2A",
        connection=None,
        spatial_extent=spatial_extent,
        temporal_extent=[day, next_day],
        bands=["B04", "B08"],
        fetch_metadata=False,
    )
    if tilesize:
        s2_cube.result_node().update_arguments(featureflags={"tilesize": 256})
    ndvi = s2_cube.ndvi()
    result = ndvi.resample_spatial(resolution=38.21851414258813, projection="EPSG:3857")
    return result.save_result(format="GTiff").flat_graph()


def test_cdse_graph_is_the_notebooks() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE)
    assert request.featureflags
    expected = _notebook_graph(AOI.to_feature(), "2019-08-19", "2019-08-20", tilesize=True)
    assert build_ndvi_cube(request).flat_graph() == expected
    assert process_graph(request) == {"process_graph": expected}
    load = expected["loadcollection1"]["arguments"]
    assert load["spatial_extent"]["type"] == "Feature"
    assert load["featureflags"] == {"tilesize": 256}


def test_embedded_graph_has_no_featureflags() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), dt.date(2022, 6, 12), None)
    graph = build_ndvi_cube(request).flat_graph()
    assert graph == _notebook_graph(AOI.to_feature(), "2022-06-12", "2022-06-13", tilesize=False)
    assert "featureflags" not in graph["loadcollection1"]["arguments"]


def test_native_resolution_skips_resample() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, None, native=True)
    graph = build_ndvi_cube(request).flat_graph()
    assert [n["process_id"] for n in graph.values()] == ["load_collection", "ndvi", "save_result"]


def _snippet_graph(code: str, url: str) -> dict:
    """Run the snippet up to the job against a stand-in for ``openeo.connect`` that builds offline."""

    class _Con:
        def authenticate_oidc(self) -> _Con:
            return self

        def authenticate_basic(self, user: str, password: str) -> _Con:
            return self

        def load_collection(self, collection_id: str, **kwargs: object) -> DataCube:
            kwargs.setdefault("fetch_metadata", False)
            return DataCube.load_collection(collection_id, connection=None, **kwargs)  # type: ignore[arg-type]

    class _Openeo:
        @staticmethod
        def connect(address: str) -> _Con:
            assert address == url
            return _Con()

    body = code.replace("import openeo\n", "").split("job = ")[0]
    scope: dict = {"openeo": _Openeo}
    exec(body, scope)  # noqa: S102 - our own generated snippet
    return {"process_graph": scope["result"].flat_graph()}


def test_python_snippet_reproduces_the_graph() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE)
    code = python_snippet(request, CDSE, title=default_title("Gran Canaria"))
    assert 'title="APEx Demo - Gran Canaria - NDVI"' in code
    assert "fetch_metadata" not in code  # the notebook's code, unchanged
    assert _snippet_graph(code, CDSE) == process_graph(request)


RANGE = (dt.date(2019, 6, 1), dt.date(2019, 9, 1))
OPTIONS = [
    pytest.param(
        dict(mask_clouds=mask, composite=composite, native=native), id=f"{mask=}-{composite=}-{native=}"
    )
    for mask in (False, True)
    for composite in (None, *COMPOSITES)
    for native in (False, True)
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("url", [CDSE, None])
def test_python_snippet_reproduces_every_option(options: dict, url: str | None) -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], url, end=RANGE[1], **options)
    code = python_snippet(request, url, title="t")
    assert _snippet_graph(code, url or "<the embedded backend's URL>") == process_graph(request)
    assert compile(code, "snippet", "exec")  # the whole script is valid Python


def _nodes(graph: dict) -> dict[str, dict]:
    return {n["process_id"]: n for n in graph["process_graph"].values()}


def test_date_range_is_half_open_with_the_last_day_included() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], None, end=RANGE[1])
    assert request.is_range
    assert request.temporal_extent == ["2019-06-01", "2019-09-02"]
    load = _nodes(process_graph(request))["load_collection"]["arguments"]
    assert load["temporal_extent"] == ["2019-06-01", "2019-09-02"]
    assert load["bands"] == ["B04", "B08"]
    one_day = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], None)
    assert not one_day.is_range
    assert one_day.end == one_day.start == one_day.day == RANGE[0]
    assert one_day == NdviRequest.for_backend(AOI.to_dict(), RANGE[0], None, end=RANGE[0])
    with pytest.raises(ValueError, match="ends"):
        NdviRequest.for_backend(AOI.to_dict(), RANGE[1], None, end=RANGE[0])
    with pytest.raises(ValueError, match="composite"):
        NdviRequest.for_backend(AOI.to_dict(), RANGE[0], None, composite="mean")  # type: ignore[arg-type]


def _mask_classes(reducer: dict) -> set[int]:
    """The SCL values the mask's band math compares with (the ``eq`` nodes on ``array_element``)."""
    graph = reducer["process_graph"]
    (element,) = [k for k, n in graph.items() if n["process_id"] == "array_element"]
    assert graph[element]["arguments"] == {"data": {"from_parameter": "data"}, "label": "SCL"}
    eqs = [n["arguments"] for n in graph.values() if n["process_id"] == "eq"]
    assert all(a["x"] == {"from_node": element} for a in eqs)
    ors = [n for n in graph.values() if n["process_id"] == "or"]
    assert len(ors) == len(eqs) - 1 and ors[-1].get("result")
    assert {n["process_id"] for n in graph.values()} == {"array_element", "eq", "or"}
    return {a["y"] for a in eqs}


def test_mask_applies_the_scl_classes_before_the_ndvi() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], CDSE, end=RANGE[1], mask_clouds=True)
    graph = process_graph(request)["process_graph"]
    load = graph["loadcollection1"]
    assert load["arguments"]["bands"] == ["B04", "B08", "SCL"]
    assert load["arguments"]["featureflags"] == {"tilesize": 256}
    mask = next(n for n in graph.values() if n["process_id"] == "mask")
    data = graph[mask["arguments"]["data"]["from_node"]]
    assert data == {
        "process_id": "filter_bands",
        "arguments": {"bands": ["B04", "B08"], "data": {"from_node": "loadcollection1"}},
    }
    condition = graph[mask["arguments"]["mask"]["from_node"]]
    assert condition["process_id"] == "reduce_dimension"
    assert condition["arguments"]["dimension"] == "bands"
    assert condition["arguments"]["data"] == {"from_node": "loadcollection1"}
    assert _mask_classes(condition["arguments"]["reducer"]) == {0, 1, 3, 8, 9, 10} == set(MASK_CLASSES)
    ndvi = next(n for n in graph.values() if n["process_id"] == "ndvi")
    assert graph[ndvi["arguments"]["data"]["from_node"]] is mask
    assert "replacement" not in mask["arguments"]  # masked pixels become no data
    assert not any(n["process_id"].startswith("mask_scl") for n in graph.values())


@pytest.mark.parametrize("composite", COMPOSITES)
def test_composite_reduces_time_after_the_ndvi(composite: str) -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], None, end=RANGE[1], composite=composite)  # type: ignore[arg-type]
    graph = process_graph(request)["process_graph"]
    order = [n["process_id"] for n in graph.values()]
    assert order == ["load_collection", "ndvi", "reduce_dimension", "resample_spatial", "save_result"]
    reduce = next(n for n in graph.values() if n["process_id"] == "reduce_dimension")
    assert reduce["arguments"]["dimension"] == "t"
    (reducer,) = reduce["arguments"]["reducer"]["process_graph"].values()
    assert reducer == {
        "process_id": composite,
        "arguments": {"data": {"from_parameter": "data"}},
        "result": True,
    }


def _used_processes(graph: dict) -> set[str]:
    found: set[str] = set()
    for node in graph.values():
        found.add(node["process_id"])
        for value in node["arguments"].values():
            if isinstance(value, dict) and "process_graph" in value:
                found |= _used_processes(value["process_graph"])
    return found


@pytest.mark.parametrize("options", OPTIONS)
def test_required_processes_are_the_graphs(options: dict) -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], CDSE, end=RANGE[1], **options)
    required = required_processes(request)
    assert len(set(required)) == len(required)
    assert set(required) == _used_processes(process_graph(request)["process_graph"])
    plain = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE)
    assert required_processes(plain) == REQUIRED_PROCESSES


def test_build_with_a_connection_fetches_no_metadata() -> None:
    """The graph submitted equals the graph shown: the SCL band is named, not numbered from metadata."""
    seen: dict = {}

    class _Con:
        def load_collection(self, collection_id: str, **kwargs: object) -> DataCube:
            seen.update(kwargs)
            return DataCube.load_collection(collection_id, connection=None, **kwargs)  # type: ignore[arg-type]

    request = NdviRequest.for_backend(AOI.to_dict(), RANGE[0], CDSE, end=RANGE[1], mask_clouds=True)
    cube = build_ndvi_cube(request, _Con())  # type: ignore[arg-type]
    assert seen["fetch_metadata"] is False
    assert {"process_graph": cube.flat_graph()} == process_graph(request)


def test_request_round_trip() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE, native=True)
    assert NdviRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert request.temporal_extent == ["2019-08-19", "2019-08-20"]
    ranged = NdviRequest.for_backend(
        AOI.to_dict(), RANGE[0], None, end=RANGE[1], mask_clouds=True, composite="median"
    )
    assert NdviRequest.from_dict(json.loads(json.dumps(ranged.to_dict()))) == ranged


def test_requests_saved_before_ranges_still_load() -> None:
    old = {"geometry": AOI.to_dict(), "day": "2019-08-19", "featureflags": True, "native": False}
    request = NdviRequest.from_dict(old)
    assert request == NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE)
    assert (request.start, request.end, request.mask_clouds, request.composite) == (
        NOTEBOOK_DATE,
        NOTEBOOK_DATE,
        False,
        None,
    )
    assert request.to_dict()["day"] == "2019-08-19"  # older readers find the day too


def test_summary_says_the_days_and_options() -> None:
    assert NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE).summary == "2019-08-19"
    ranged = NdviRequest.for_backend(
        AOI.to_dict(), RANGE[0], None, end=RANGE[1], mask_clouds=True, composite="max"
    )
    assert ranged.summary == "2019-06-01 to 2019-09-01, clouds masked (SCL), maximum NDVI"
