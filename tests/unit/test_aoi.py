"""AOI parsing and validation (apex_core.aoi), no services."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from apex_core.aoi import (
    NOTEBOOK_BBOX,
    NOTEBOOK_DATE,
    Aoi,
    Footprint,
    Observation,
    accept_aoi,
    default_aoi,
    drawn_geometry,
    footprints_from_scenes,
    is_cdse_like,
    observation_index,
    parse_bbox,
    parse_geojson,
    place_name,
    validate_aoi,
)
from apex_core.errors import AoiError
from apex_core.local.contract import Scene

BOLZANO = Footprint("bolzano", "Bolzano", (11.279, 46.4596, 11.4034, 46.5254), 1)
KEMPEN = Footprint("kempen", "Kempen", (5.2245, 51.2146, 5.3023, 51.3052), 1)
RING = [[11.3, 46.47], [11.35, 46.47], [11.35, 46.5], [11.3, 46.5], [11.3, 46.47]]
POLYGON = {"type": "Polygon", "coordinates": [RING]}


def test_polygon_feature_and_collection_parse_to_the_same_aoi() -> None:
    feature = {"type": "Feature", "geometry": POLYGON, "properties": {"name": "x"}}
    collection = {"type": "FeatureCollection", "features": [feature]}
    aois = {parse_geojson(POLYGON), parse_geojson(feature), parse_geojson(collection)}
    assert len(aois) == 1
    assert parse_geojson(json.dumps(collection)).to_dict() == POLYGON


def test_bbox_is_a_closed_rectangle() -> None:
    aoi = Aoi.from_bbox(11.3, 46.47, 11.35, 46.5)
    assert aoi.to_dict() == POLYGON
    assert aoi.bbox == (11.3, 46.47, 11.35, 46.5)
    assert aoi.vertices == 4
    assert aoi.to_feature() == {"type": "Feature", "geometry": POLYGON, "properties": {}}


def test_unclosed_ring_is_closed() -> None:
    aoi = parse_geojson({"type": "Polygon", "coordinates": [RING[:-1]]})
    assert aoi.to_dict() == POLYGON


def test_geodesic_area_in_km2() -> None:
    # One degree of latitude by one of longitude at the equator: about 12,308 km² on WGS84.
    assert Aoi.from_bbox(0, 0, 1, 1).area_km2 == pytest.approx(12308.8, rel=1e-3)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ({"type": "Point", "coordinates": [1, 2]}, "must be a polygon"),
        ({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, "must be a polygon"),
        ({"type": "FeatureCollection", "features": []}, "exactly one polygon"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": POLYGON}] * 2}, "2 "),
        ({"type": "Feature", "geometry": None}, "no geometry"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}, "three distinct corners"),
        ({"type": "Polygon", "coordinates": "x"}, "malformed"),
        ({"type": "Topology"}, "Not a GeoJSON geometry"),
    ],
)
def test_malformed_geojson_is_a_clear_error(doc: object, match: str) -> None:
    with pytest.raises(AoiError, match=match) as err:
        parse_geojson(doc)  # type: ignore[arg-type]
    assert err.value.field in ("geojson", "geometry")


def test_inverted_bbox_is_rejected() -> None:
    with pytest.raises(AoiError, match="West") as err:
        Aoi.from_bbox(2, 0, 1, 1)
    assert err.value.field == "bbox"
    with pytest.raises(AoiError, match="South"):
        Aoi.from_bbox(0, 1, 1, 1)


def test_valid_aoi_passes() -> None:
    aoi = Aoi.from_dict(POLYGON)
    assert validate_aoi(aoi, max_km2=2500, footprints=[BOLZANO, KEMPEN]) is aoi


def test_self_intersecting_polygon_is_rejected() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(AoiError, match="Self-intersection") as err:
        validate_aoi(Aoi.from_dict(bowtie), max_km2=1e9)
    assert err.value.field == "geometry"


def test_zero_area_is_rejected() -> None:
    flat = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}
    with pytest.raises(AoiError) as err:
        validate_aoi(Aoi.from_dict(flat), max_km2=1e9)
    assert err.value.field == "geometry"


@pytest.mark.parametrize("point", [(181.0, 0.0), (0.0, 91.0), (-181.0, 0.0), (0.0, -90.5)])
def test_coordinates_out_of_range_are_rejected(point: tuple[float, float]) -> None:
    x, y = point
    ring = [[x, y], [x + 0.1 if x < 0 else x - 0.1, y], [x, y - 0.1 if y > 0 else y + 0.1], [x, y]]
    with pytest.raises(AoiError, match="out of range") as err:
        validate_aoi(Aoi.from_dict({"type": "Polygon", "coordinates": [ring]}), max_km2=1e9)
    assert err.value.field == "coordinates"


def test_too_many_vertices_is_rejected() -> None:
    import math

    ring = [[math.cos(a / 50 * math.pi) * 0.01, math.sin(a / 50 * math.pi) * 0.01] for a in range(100)]
    aoi = Aoi.from_dict({"type": "Polygon", "coordinates": [ring]})
    assert validate_aoi(aoi, max_km2=1e9, max_vertices=100) is aoi
    with pytest.raises(AoiError, match="100 vertices") as err:
        validate_aoi(aoi, max_km2=1e9, max_vertices=99)
    assert err.value.field == "vertices"


def test_too_large_is_rejected() -> None:
    with pytest.raises(AoiError, match="larger than the 2,500 km²") as err:
        validate_aoi(Aoi.from_bbox(0, 0, 1, 1), max_km2=2500)
    assert err.value.field == "area"


def test_outside_the_footprints_is_rejected_on_the_embedded_backend() -> None:
    canaria = Aoi.from_bbox(*NOTEBOOK_BBOX)
    with pytest.raises(AoiError, match=r"outside the embedded backend's data \(Bolzano, Kempen\)") as err:
        validate_aoi(canaria, max_km2=2500, footprints=[BOLZANO, KEMPEN])
    assert err.value.field == "footprint"
    # A remote backend (no footprints) accepts it.
    assert validate_aoi(canaria, max_km2=2500) is canaria


def test_place_name() -> None:
    assert place_name(Aoi.from_dict(POLYGON), [KEMPEN, BOLZANO]) == "Bolzano"
    assert place_name(BOLZANO.aoi, [KEMPEN, BOLZANO]) == "Bolzano"
    assert place_name(Aoi.from_bbox(11.0, 46.4, 11.35, 46.5), [BOLZANO]) == "custom area"


def test_footprints_group_scenes_by_area() -> None:
    day = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    scenes = [
        Scene("romania", day, (22.1, 45.2, 22.2, 45.3), 3035, (100, 100), 1.0),
        Scene("romania", day + dt.timedelta(days=5), (22.1, 45.2, 22.2, 45.3), 3035, (100, 100), 2.0),
        Scene("bolzano", day, BOLZANO.bbox, 32632, (705, 935), None),
    ]
    fps = footprints_from_scenes(scenes)
    assert [(f.title, f.dates) for f in fps] == [("Romania", 2), ("Bolzano", 1)]
    assert Footprint.from_dict(fps[0].to_dict()) == fps[0]


def test_defaults_follow_the_notebook_on_a_remote_backend() -> None:
    aoi, place, day = default_aoi("https://openeo.dataspace.copernicus.eu", [BOLZANO])
    assert (aoi.bbox, place, day) == (NOTEBOOK_BBOX, "Gran Canaria", NOTEBOOK_DATE)
    assert dt.date(2019, 8, 19) == NOTEBOOK_DATE
    aoi, place, day = default_aoi(None, [BOLZANO])
    assert (aoi.bbox, place, day) == (BOLZANO.bbox, "Bolzano", None)


def test_cdse_detection() -> None:
    assert is_cdse_like("https://openeo.dataspace.copernicus.eu")
    assert is_cdse_like("https://openeo.dataspace.copernicus.eu/openeo/1.2")
    assert is_cdse_like("https://openeo.vito.be")
    assert not is_cdse_like(None)
    assert not is_cdse_like("http://127.0.0.1:8080/openeo/1.2")
    assert not is_cdse_like("https://evil-dataspace.copernicus.eu.example.com")


def test_observation_round_trip_and_label() -> None:
    obs = Observation(dt.date(2019, 8, 19), 12.34, 2)
    assert Observation.from_dict(obs.to_dict()) == obs
    assert obs.label() == "2019-08-19 (12 % cloud, 2 scenes)"
    assert Observation(dt.date(2022, 6, 12)).label() == "2022-06-12 (cloud cover unknown)"


def test_typed_bbox_values() -> None:
    assert parse_bbox([11.3, "46.47", 11.35, 46.5]).to_dict() == POLYGON
    with pytest.raises(AoiError, match="North is empty"):
        parse_bbox([11.3, 46.47, 11.35, None])
    with pytest.raises(AoiError, match="West is not a number"):
        parse_bbox(["x", 46.47, 11.35, 46.5])
    with pytest.raises(AoiError, match="four numbers"):
        parse_bbox([1, 2, 3])


def test_map_layer_holds_the_footprints_and_the_aoi() -> None:
    import folium

    from apex_core.aoi import aoi_layer

    fmap = folium.Map()
    aoi_layer(Aoi.from_dict(POLYGON), [BOLZANO, KEMPEN]).add_to(fmap)
    html = fmap.get_root().render()
    assert "Bolzano: 1 date(s)" in html
    assert "Kempen: 1 date(s)" in html
    assert "Area of interest" in html
    assert "11.35" in html


def test_accept_aoi_validates_and_names_the_place() -> None:
    inside = Aoi.from_dict(POLYGON)
    assert accept_aoi(inside, max_km2=2500, footprints=(KEMPEN, BOLZANO)) == (inside, "Bolzano")
    assert accept_aoi(inside, max_km2=2500, place="Somewhere") == (inside, "Somewhere")
    assert accept_aoi(inside, max_km2=2500) == (inside, "custom area")  # no footprints: not checked
    with pytest.raises(AoiError, match="outside the embedded backend's data") as info:
        accept_aoi(inside, max_km2=2500, footprints=(KEMPEN,))
    assert info.value.field == "footprint"
    with pytest.raises(AoiError, match="larger than"):
        accept_aoi(inside, max_km2=1)


def test_drawn_geometry_from_the_map_event() -> None:
    event = {"last_active_drawing": {"type": "Feature", "properties": {}, "geometry": POLYGON}}
    found = drawn_geometry(event)
    assert found is not None
    key, geometry = found
    assert geometry == POLYGON
    assert key == json.dumps(POLYGON, sort_keys=True)
    # the same drawing, keys in another order: the same key (taken once)
    reordered = {"last_active_drawing": {"geometry": {"coordinates": [RING], "type": "Polygon"}}}
    assert drawn_geometry(reordered) == found
    for nothing in (None, {}, {"last_active_drawing": None}, {"last_active_drawing": {"geometry": "x"}}):
        assert drawn_geometry(nothing) is None


def test_observation_index_finds_the_stored_day() -> None:
    days = [Observation(dt.date(2022, 6, d)) for d in (12, 7, 2)]
    assert observation_index(days, "2022-06-07") == 1
    assert observation_index(days, "2021-01-01") == 0
    assert observation_index(days, None) == 0
