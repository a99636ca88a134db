"""The links a collection stores: what a STAC API adds to its responses is never written back."""

from __future__ import annotations

from apex_core.browse import readable
from apex_core.merge import stored_links

SERVED = [
    {"rel": "self", "href": "https://cat.example/collections/c"},
    {"rel": "items", "href": "https://cat.example/collections/c/items"},
    {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "href": "https://cat.example/q"},
    {"rel": "license", "href": "https://creativecommons.org/licenses/by/4.0/", "title": "CC-BY-4.0"},
    {"rel": "derived_from", "href": "https://openeo.example/jobs/j-1"},
]


def test_served_links_are_dropped_and_the_collection_s_own_kept() -> None:
    assert [link["rel"] for link in stored_links(SERVED)] == ["license", "derived_from"]
    assert stored_links(None) == [] and stored_links([None, "x", {"rel": None, "href": "h"}]) == [
        {"rel": None, "href": "h"}
    ]


def test_people_see_the_collection_s_own_links_only() -> None:
    rows = readable({"id": "c", "links": SERVED}).links
    assert [row["rel"] for row in rows] == ["license", "derived_from"]
