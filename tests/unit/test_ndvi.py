"""The app's NDVI graph equals the notebook's, built with the openeo client exactly as the notebook does."""

from __future__ import annotations

import datetime as dt
import json

from openeo.rest.datacube import DataCube

from apex_core.aoi import NOTEBOOK_BBOX, NOTEBOOK_DATE, Aoi
from apex_core.ndvi import NdviRequest, build_ndvi_cube, default_title, process_graph, python_snippet

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


def test_python_snippet_reproduces_the_graph() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE)
    code = python_snippet(request, CDSE, title=default_title("Gran Canaria"))
    assert 'title="APEx Demo - Gran Canaria - NDVI"' in code
    # Run it against a stand-in for openeo.connect that builds offline, and compare the graph.
    captured: dict = {}

    class _Con:
        def authenticate_oidc(self) -> _Con:
            return self

        def load_collection(self, collection_id: str, **kwargs: object) -> DataCube:
            return DataCube.load_collection(collection_id, connection=None, fetch_metadata=False, **kwargs)

    class _Openeo:
        @staticmethod
        def connect(url: str) -> _Con:
            assert url == CDSE
            return _Con()

    body = code.replace("import openeo\n", "").split("job = ")[0]
    scope: dict = {"openeo": _Openeo}
    exec(body, scope)  # noqa: S102 - our own generated snippet
    captured = scope["result"].flat_graph()
    assert captured == build_ndvi_cube(request).flat_graph()


def test_request_round_trip() -> None:
    request = NdviRequest.for_backend(AOI.to_dict(), NOTEBOOK_DATE, CDSE, native=True)
    assert NdviRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert request.temporal_extent == ["2019-08-19", "2019-08-20"]
