"""AppTest: the Catalogue page and the shared view against the embedded catalogue and issuer (tests/services,
pointed at as a remote catalogue): a private and a public collection published over HTTP with re-hosted
COGs; anonymous sees the public one only (and is told signing in may show more), signed in sees both;
the item's quicklook and legend; the title edited in the Metadata form (diff first, PATCH, ``_auth``
still enforced); an item deleted behind its typed id; the project's results handed to the Publish page;
the shared view without sign-in."""

from __future__ import annotations

import http.server
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from apex_core.flow import MetadataOutcome, StateKey
from apex_core.local.catalogue import CatalogueHandle
from apex_core.quicklook import Quicklook
from tests.apptest import ok, open_page
from tests.services import loopback_http, shared_fixture
from tests.stacdocs import (
    EDITOR_AUTH,
    collection_doc,
    item_doc,
    publish_two_dates,
    write_land_cover_geotiff,
    write_ndvi_geotiff,
)

pytestmark = pytest.mark.services

CATALOGUE = "pages/flow/6_catalogue.py"
SHARED = "pages/flow/7_shared.py"
PUBLISH = "pages/flow/5_publish.py"
T = 30.0
PUBLIC_AUTH = {"read": ["anonymous"], "write": ["apex-editor"]}


@pytest.fixture(scope="module")
def published(
    catalogue: CatalogueHandle, token_for: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(private id, public id): the private one by the editor, the public one by the admin."""
    folder = tmp_path_factory.mktemp("catalogue-page")
    private, public = f"priv-{uuid.uuid4().hex[:8]}", f"pub-{uuid.uuid4().hex[:8]}"
    ndvi = write_ndvi_geotiff(folder / "ndvi.tif")
    land_cover = write_land_cover_geotiff(folder / "lc.tif", (11.0, 46.0, 11.5, 46.5), (700, 500))
    publish_two_dates(catalogue.url, catalogue.assets_url, token_for("editor"), private, ndvi, EDITOR_AUTH)
    publish_two_dates(
        catalogue.url, catalogue.assets_url, token_for("admin"), public, land_cover, PUBLIC_AUTH
    )
    yield private, public
    for cid in (private, public):
        requests.delete(
            f"{catalogue.url}/collections/{cid}",
            headers={"Authorization": f"Bearer {token_for('admin')}"},
            timeout=T,
        )


def _click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    return ok(at)


def _collection_options(at: AppTest) -> list[str]:
    return [str(o) for o in at.selectbox(key="cat_collection").options]


def _sign_in(at: AppTest) -> None:
    assert at.radio(key="pub_sign_in_method").value == "client credentials"
    _click(at, "pub_sign_in_client")
    assert any("Signed in" in str(s.value) for s in at.success)


def test_anonymous_sees_public_collections_only(remote_env: str, published: tuple[str, str]) -> None:
    private, public = published
    at = open_page(CATALOGUE)
    assert [t.value for t in at.title] == ["Catalogue"]
    options = " ".join(_collection_options(at))
    assert public in options
    assert private not in options
    assert any("Signing in may show more" in str(c.value) for c in at.caption)
    assert not [b for b in at.button if b.key == "cat_patch"]  # nothing to edit anonymously

    _sign_in(at)
    options = " ".join(_collection_options(at))
    assert private in options and public in options  # the editor reads the private one too


def test_signed_in_view_edit_and_delete(
    remote_env: str,
    published: tuple[str, str],
    catalogue: CatalogueHandle,
    auth_header: Callable[[str], dict[str, str]],
) -> None:
    private, _public = published
    at = open_page(CATALOGUE)
    _sign_in(at)
    at.text_input(key="cat_query").set_value(private).run()
    ok(at)
    assert _collection_options(at)[0].startswith(f"Title of {private}")
    at.selectbox(key="cat_collection").set_value(private).run()
    ok(at)
    assert [s.value for s in at.subheader][:1] == [f"Title of {private}"]
    assert any(f"Catalogue test **{private}**" in str(m.value) for m in at.markdown)
    # the first item's quicklook (read over HTTP from the re-hosted COG) with the NDVI legend
    looks = at.session_state[StateKey.CATALOGUE_QUICKLOOKS.value]
    _token, look = next(iter(looks.values()))
    assert isinstance(look, Quicklook) and look.item_id == f"{private}_20220612"
    assert look.style.kind == "ndvi" and look.overlay.png.startswith(b"\x89PNG")
    assert any("Quicklook of `map`" in str(c.value) for c in at.caption)

    # edit the title in the Metadata form: the diff first, then PATCH
    at.text_input(key="catmd_title").set_value("A better title").run()
    ok(at)
    assert any("A better title" in str(c.value) and "-" in str(c.value) for c in at.code)
    anonymous_before = requests.get(f"{catalogue.url}/collections/{private}", timeout=T)
    _click(at, "cat_patch")
    assert any(f"Updated {private}: title" in str(s.value) for s in at.success)
    stored = requests.get(f"{catalogue.url}/collections/{private}", headers=auth_header("editor"), timeout=T)
    assert stored.json()["title"] == "A better title"
    assert stored.json()["description"] == f"Catalogue test **{private}**"
    # `_auth` still enforced: anonymous cannot read it, noroles cannot write it
    anonymous = requests.get(f"{catalogue.url}/collections/{private}", timeout=T)
    assert anonymous.status_code == anonymous_before.status_code and anonymous.status_code in (401, 403, 404)
    refused = requests.patch(
        f"{catalogue.url}/collections/{private}",
        json={"title": "hijacked"},
        headers=auth_header("noroles"),
        timeout=T,
    )
    assert refused.status_code in (403, 404)  # a private collection is hidden from who may not read it
    again = requests.get(f"{catalogue.url}/collections/{private}", headers=auth_header("editor"), timeout=T)
    assert again.json()["title"] == "A better title"
    assert [s.value for s in at.subheader][:1] == ["A better title"]  # read again after the write

    # delete one item: the button stays disabled until its id is typed
    item = f"{private}_20220701"
    at.segmented_control(key="cat_action").set_value("Delete").run()
    at.selectbox(key="cat_delete_item_id").set_value(item).run()
    assert at.button(key="cat_delete_item").disabled
    at.text_input(key="cat_delete_item_confirm").set_value(item[:-1]).run()
    assert at.button(key="cat_delete_item").disabled
    at.text_input(key="cat_delete_item_confirm").set_value(item).run()
    _click(at, "cat_delete_item")
    gone = requests.get(
        f"{catalogue.url}/collections/{private}/items/{item}", headers=auth_header("editor"), timeout=T
    )
    assert gone.status_code == 404
    kept = requests.get(
        f"{catalogue.url}/collections/{private}/items/{private}_20220612",
        headers=auth_header("editor"),
        timeout=T,
    )
    assert kept.status_code == 200
    assert item not in [str(o) for o in at.selectbox(key="cat_item").options]


def test_add_this_projects_results_opens_publish_set_to_add(
    remote_env: str, published: tuple[str, str]
) -> None:
    private, _public = published
    outcome = MetadataOutcome(
        valid=True, collection=collection_doc("next-month", "x"), items=(item_doc("next-1", "next-month"),)
    )
    at = open_page(CATALOGUE, **{StateKey.METADATA.value: outcome})
    _sign_in(at)
    at.selectbox(key="cat_collection").set_value(private).run()
    at.segmented_control(key="cat_action").set_value("Add this project's results").run()
    _click(at, "cat_add")
    assert [t.value for t in at.title] == ["Publish"]
    assert at.radio(key="pub_mode").value == "Add to an existing collection"
    assert at.selectbox(key="pub_add_to").value == private


def test_shared_view_needs_no_sign_in_for_a_public_collection(
    remote_env: str, published: tuple[str, str]
) -> None:
    private, public = published
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60)
    at.query_params["collection"] = public
    at.run()
    at.switch_page(SHARED).run()
    ok(at)
    assert [s.value for s in at.subheader][:1] == [f"Title of {public}"]
    assert not [r for r in at.radio if r.key == "pub_sign_in_method"]  # read-only: no sign-in, no edit
    assert not [b for b in at.button if str(b.key).startswith("cat_")]
    _token, look = next(iter(at.session_state[StateKey.CATALOGUE_QUICKLOOKS.value].values()))
    assert look.style.kind == "categorical" and look.style.classes  # land cover: classes in the legend

    at.query_params["collection"] = private  # private: not shown without sign-in
    at.run()
    ok(at)
    assert any("not public" in str(w.value) for w in at.warning)
    assert not at.subheader


def test_a_recorded_apex_collection_reads_for_people(monkeypatch: pytest.MonkeyPatch) -> None:
    """The APEx catalogue replayed from its recorded ``GET /collections`` entry (a remote production
    service: replayed, never called): listed anonymously, its metadata shown for people, no items."""
    doc = json.loads(shared_fixture("apex_catalogue_collection_response.json").read_text())
    cid = doc["id"]
    seen: list[tuple[str, str | None]] = []

    class Replay(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            base = f"http://{self.headers['Host']}"
            path = self.path.split("?")[0].rstrip("/")
            seen.append((path, self.headers.get("Authorization")))
            answers: dict[str, object] = {
                "": {
                    "type": "Catalog", "id": "apex", "stac_version": "1.0.0", "description": "replay",
                    "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/collections"],
                    "links": [{"rel": "data", "href": f"{base}/collections", "type": "application/json"}],
                },
                "/collections": {"collections": [doc], "links": []},
                f"/collections/{cid}": doc,
                f"/collections/{cid}/items": {"type": "FeatureCollection", "features": [], "links": []},
            }  # fmt: skip
            body = json.dumps(answers[path]).encode() if path in answers else b'{"code": "NotFound"}'
            self.send_response(200 if path in answers else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_http(Replay) as url:
        monkeypatch.setenv("APEX_CATALOGUE_URL", url)
        at = open_page(CATALOGUE)
        assert any(url in str(m.value) for m in at.markdown)
        assert any("Signing in may show more" in str(c.value) for c in at.caption)
        assert _collection_options(at) == [f"{doc['title']} ({cid})"]
        at.selectbox(key="cat_collection").set_value(cid).run()
        ok(at)
    assert [s.value for s in at.subheader][:1] == [doc["title"]]
    assert any(doc["description"].strip()[:40] in str(m.value) for m in at.markdown)
    assert any("no items yet" in str(i.value) for i in at.info)
    shown = " ".join(str(m.value) for m in at.markdown)
    assert "**Licence:** CC-BY-4.0" in shown and "**Providers**" in shown and "**Statistics**" in shown
    assert all(auth is None for _path, auth in seen)  # anonymous: no Authorization header was sent
    assert (f"/collections/{cid}", None) in seen


def test_a_signed_in_read_never_reaches_the_shared_view(
    remote_env: str, published: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one session: signed in, the private collection is read (and its share link is the Catalogue
    page's, for its readers; the STAC Browser's where one is set); the shared view of it, in the same
    session, shows nothing of it."""
    private, public = published
    monkeypatch.setenv("APEX_STAC_BROWSER_URL", "https://browser.example/stac/")
    at = open_page(CATALOGUE)
    _sign_in(at)
    at.selectbox(key="cat_collection").set_value(private).run()
    ok(at)
    assert at.subheader  # shown signed in (its title may have been edited by another test)
    links = " ".join(str(c.value) for c in at.code)
    assert f"/catalogue?collection={private}" in links and "/shared?" not in links
    assert any("This collection is private" in str(c.value) for c in at.caption)
    assert any(
        "[Open in the STAC Browser](https://browser.example/stac/" in str(m.value) and private in str(m.value)
        for m in at.markdown
    )
    at.selectbox(key="cat_collection").set_value(public).run()
    assert f"/shared?collection={public}" in " ".join(str(c.value) for c in at.code)

    at.query_params["collection"] = private
    at.switch_page(SHARED).run()
    ok(at)
    assert not at.subheader
    assert any("not public" in str(w.value) for w in at.warning)
    assert not [m for m in at.markdown if f"Catalogue test **{private}**" in str(m.value)]


def test_what_the_publish_page_published_is_in_the_catalogue_at_once(
    remote_env: str,
    published: tuple[str, str],
    catalogue: CatalogueHandle,
    auth_header: Callable[[str], dict[str, str]],
) -> None:
    """The Catalogue page read the list before a publish: the new collection is there after it (what a
    session read of the catalogue is read again after any write)."""
    cid = f"new-{uuid.uuid4().hex[:8]}"
    outcome = MetadataOutcome(
        valid=True, collection=collection_doc(cid, "Just published", title="Just published"),
        items=(item_doc(f"{cid}_1", cid),),
    )  # fmt: skip
    at = open_page(CATALOGUE, **{StateKey.METADATA.value: outcome})
    _sign_in(at)
    assert cid not in " ".join(_collection_options(at))
    at.switch_page(PUBLISH).run()
    _click(at, "pub_go")
    assert at.session_state[StateKey.PUBLISHED.value].collection_url.endswith(f"/collections/{cid}")
    at.query_params["collection"] = cid  # the Publish page's link to the Catalogue
    at.switch_page(CATALOGUE).run()
    ok(at)
    assert at.selectbox(key="cat_collection").value == cid
    assert [s.value for s in at.subheader][:1] == ["Just published"]
    requests.delete(f"{catalogue.url}/collections/{cid}", headers=auth_header("admin"), timeout=T)
