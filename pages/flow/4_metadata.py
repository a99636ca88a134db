"""Step 4, Metadata: a clean, valid STAC Collection from the job's results, edited in a form."""

from __future__ import annotations

from typing import Any

import streamlit as st

from apex_core import ApexError
from apex_core import metadata as md
from apex_core.licences import LICENCES, OTHER, licence_label
from apex_core.steps import StateKey
from pages import settings, show_error

STORE = "apex_metadata_draft"  # this page's own state: {"source": ..., "draft": ..., "reach": ...}
W = "md_"  # widget key prefix; widget values are dropped on page change, the draft in STORE is not
MARKS = {
    True: ":green[:material/check_circle:]",
    False: ":orange[:material/warning:]",
    None: ":material/help:",
}

st.title("Metadata")
store: dict[str, Any] = st.session_state.setdefault(STORE, {})
timeout = min(settings().http_timeout, 10.0)
preview = st.session_state.get(StateKey.PREVIEW)


def load(loaded: md.LoadedResults) -> None:
    """A new source: a fresh draft from it, and the form reseeded."""
    draft = md.CollectionDraft.from_results(loaded.results, loaded.items, preview=preview)
    store.update(source=loaded.to_dict(), draft=draft.to_dict(), reach=None, seen=loaded.fingerprint)
    store["statistics"] = draft.statistics.to_dict() if draft.statistics else None
    for key in [k for k in st.session_state if str(k).startswith(W) and k != W + "upload"]:
        del st.session_state[key]


job = st.session_state.get(StateKey.JOB)
try:
    if (fp := md.job_fingerprint(job)) and fp not in store.get("loaded", ()):
        store["loaded"] = [*store.get("loaded", ()), fp]
        load(md.results_from_job(job, timeout))
    with st.expander("Load a job-results document", expanded="source" not in store):
        st.caption(
            "The JSON that `job.get_results().get_metadata()` returns (a STAC Collection); "
            "add its item JSON files too."
        )
        files = st.file_uploader(
            "Job results JSON", type="json", accept_multiple_files=True, key=W + "upload"
        )
        blobs = [(f.name, f.getvalue()) for f in files or []]
        if blobs and (fp := md.upload_fingerprint(blobs)) not in store.get("loaded", ()):
            store["loaded"] = [*store.get("loaded", ()), fp]
            load(md.results_from_upload(blobs, timeout))
        if "source" in store:
            st.button(
                "Reset the form to the loaded results",
                on_click=lambda: load(md.LoadedResults.from_dict(store["source"])),
            )
except ApexError as exc:
    show_error(exc)


def notes(issues: tuple[md.FieldIssue, ...], *names: str) -> None:
    for issue in (i for i in issues if i.field in names):
        (st.error if issue.severity == "error" else st.warning)(issue.message, icon=":material/error:")


def edit_providers(remove: int | None = None) -> None:
    d = md.CollectionDraft.from_dict(store["draft"])
    d = d.with_provider_added() if remove is None else d.with_provider_removed(remove)
    store["draft"] = d.to_dict()
    for key in [k for k in st.session_state if str(k).startswith(W + "provider")]:
        del st.session_state[key]


def edit_form(
    draft: md.CollectionDraft, issues: tuple[md.FieldIssue, ...], stats: md.BandStatistics | None
) -> None:
    st.text_input(
        "Id",
        key=W + "id",
        help="Lowercase letters, digits, '-' and '_'; 3 to 64 characters; starts with a letter.",
    )
    notes(issues, "id")
    st.text_input("Title", key=W + "title")
    notes(issues, "title")
    write, show = st.tabs(["Description (markdown)", "Preview"])
    write.text_area("Description", key=W + "description", height=120)
    show.markdown(draft.description)
    notes(issues, "description")
    options = list(dict.fromkeys([*LICENCES, draft.license]))
    st.selectbox("Licence (type to search)", options, key=W + "license", format_func=licence_label)
    if draft.license == OTHER:
        st.text_input("Link to the licence terms", key=W + "license_url")
    notes(issues, "license", "license_url")
    st.text_input("Keywords (comma-separated)", key=W + "keywords")
    notes(issues, "keywords")
    st.markdown("**Providers**")
    for i in range(len(draft.providers)):
        a, b, c, d = st.columns([4, 4, 5, 1], vertical_alignment="bottom")
        a.text_input("Name", key=f"{W}provider_{i}_name")
        b.multiselect("Roles", md.PROVIDER_ROLES, key=f"{W}provider_{i}_roles")
        c.text_input("URL", key=f"{W}provider_{i}_url")
        d.button("", key=f"md_remove_{i}", icon=":material/delete:", on_click=edit_providers, args=(i,))
        notes(issues, f"provider_{i}_name", f"provider_{i}_roles", f"provider_{i}_url")
    st.button("Add provider", on_click=edit_providers, icon=":material/add:")
    notes(issues, "providers")
    st.markdown("**Extent** (prefilled from the job)")
    cols = st.columns(4)
    for col, name in zip(cols, ("west", "south", "east", "north"), strict=True):
        col.number_input(name.capitalize(), key=W + name, format="%.6f")
    notes(issues, "west", "south")
    a, b = st.columns(2)
    a.text_input("Start (ISO 8601)", key=W + "start")
    b.text_input("End (ISO 8601)", key=W + "end")
    notes(issues, "start", "end")
    st.markdown("**Access rules** (`_auth`, required by the catalogue)")
    st.caption(
        "Both lists are required. `anonymous` (everyone) may never write; "
        "only catalogue administrators may put `anonymous` in read."
    )
    a, b = st.columns(2)
    a.text_input("Read roles (comma-separated)", key=W + "auth_read")
    b.text_input("Write roles (comma-separated)", key=W + "auth_write")
    notes(issues, "auth_read", "auth_write")
    st.checkbox("Render hints (render extension v2.0.0)", key=W + "render_on")
    if draft.render is not None:
        a, b, c = st.columns(3)
        a.number_input("Rescale min", key=W + "render_min")
        b.number_input("Rescale max", key=W + "render_max")
        c.selectbox("Colormap", md.COLORMAPS, key=W + "colormap")
        notes(issues, "render_min", "colormap")
    if stats is not None:
        st.checkbox(f"raster:bands statistics from the {stats.source}", key=W + "stats_on")
        st.caption(", ".join(f"{k} {v:g}" for k, v in stats.stac_statistics().items()))
        notes(issues, "stats_on")
    st.radio(
        "Bare `/eodata/...` derived_from links", ["drop", "absolute"], key=W + "derived_from", horizontal=True
    )
    if draft.derived_from == "absolute":
        st.text_input("Absolute base for /eodata", key=W + "eodata_base")
        notes(issues, "eodata_base")


def results(draft: md.CollectionDraft, ev: md.Evaluation, source: md.LoadedResults) -> None:
    if ev.publishable is None:
        st.error(f"**Not valid yet**: fix the {len(ev.errors)} field(s) marked in the form.")
        notes(ev.issues, "document", *(f"items[{i}]" for i in range(len(source.items))))
        return
    pub = ev.publishable
    if ev.valid:
        st.success(f"**Valid STAC {md.STAC_VERSION} collection** `{draft.id}` with {len(pub.items)} item(s).")
    else:
        st.error("**Not valid yet**: see the schema checks below.")
    st.markdown(md.schema_summary(ev.checks))
    with st.expander("Schema checks (offline)", expanded=not ev.valid):
        st.table(md.schema_rows(ev.checks))
    st.subheader("Readiness")
    for c in ev.checklist:
        st.markdown(f"{MARKS[c.ok]} **{c.label}**: {c.detail}")
    st.dataframe([e.to_dict() for e in md.asset_expiries(pub.collection, pub.items)], hide_index=True)
    if st.button("Check assets", help="HEAD/GET each asset link (only now, with a timeout)."):
        hrefs = [href for _o, _k, href in md.asset_hrefs(pub.collection, pub.items)]
        store["reach"] = [r.to_dict() for r in md.check_reachable(hrefs, timeout)]
        st.rerun()
    for note in pub.notes:
        st.caption(note)
    with st.expander("Changes against the openEO results"):
        st.code(md.diff_against_results(source.results, pub) or "(no change)", language="diff")
    st.download_button(
        "Download as a static catalogue (zip)",
        md.catalogue_zip(draft, source.results, source.items),
        file_name=f"{draft.id}.zip",
        mime="application/zip",
        icon=":material/download:",
    )


if "source" not in store:
    st.info("**No job results yet.** Run the job on the Job page, or load its results document above.")
else:
    source = md.LoadedResults.from_dict(store["source"])
    saved = md.CollectionDraft.from_dict(store["draft"])
    stats = md.pick_statistics(preview, store.get("statistics"), source.results.get("id"))
    st.caption(f"From {source.origin}: {len(source.items)} item(s). " + " ".join(source.problems))
    for key, value in saved.form_values().items():
        st.session_state.setdefault(W + key, value)
    draft = saved.with_form(
        {k[len(W) :]: v for k, v in st.session_state.items() if str(k).startswith(W)}, statistics=stats
    )
    store["draft"] = draft.to_dict()
    reach = [md.Reachability.from_dict(r) for r in store["reach"]] if store.get("reach") is not None else None
    ev = md.evaluate(draft, source.results, source.items, reachability=reach)
    st.session_state[StateKey.METADATA] = ev.state()
    form, side = st.columns([5, 4], gap="large")
    with form:
        edit_form(draft, ev.issues, stats)
    with side:
        results(draft, ev, source)
