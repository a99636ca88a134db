"""Step 4, Metadata: a clean, valid STAC Collection from the job's results, edited in a form.

Each rerun does each thing once: :meth:`MetadataSession.current` checks the draft and builds the
collection once, and everything below is drawn from its answer; the diff is made only while its
expander is open, the zip only when the person downloads it.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from apex_core import ApexError
from apex_core import metadata as md
from apex_core.flow import MetadataOutcome, StateKey, WidgetPrefix
from pages.common.apex import apex_section, attach_files, proposal
from pages.common.errors import show_error
from pages.common.metadata import FormState, MetadataSession, edit_form, notes
from pages.common.session import settings

W = WidgetPrefix.METADATA  # widget values are dropped on page change, the draft (MetadataWork) is not
OK, WARN, UNKNOWN = ":green[:material/check_circle:]", ":orange[:material/warning:]", ":material/help:"
MARKS = {True: OK, False: WARN, None: UNKNOWN}

st.title("Metadata")
session = MetadataSession(st.session_state, StateKey.METADATA_DRAFT, W)
timeout = min(settings().http_timeout, 10.0)
preview = st.session_state.get(StateKey.PREVIEW)
try:
    session.load_job(st.session_state.get(StateKey.JOB), timeout, preview)
    with st.expander("Load a job-results document", expanded=not session.loaded):
        st.caption(
            "The JSON that `job.get_results().get_metadata()` returns (a STAC Collection); "
            "add its item JSON files too."
        )
        files = st.file_uploader("Job results JSON", "json", accept_multiple_files=True, key=W + "upload")
        session.load_upload([(f.name, f.getvalue()) for f in files or []], timeout, preview)
        if session.loaded:
            st.button("Reset the form to the loaded results", on_click=session.reset, args=(preview,))
except ApexError as exc:
    show_error(exc)


def results(now: FormState) -> None:
    draft, ev, source = now.draft, now.evaluation, now.source
    proposal(now, session, W)
    ok, headline = ev.headline(draft.id)
    (st.success if ok else st.error)(headline)
    if (pub := ev.publishable) is None:
        notes(ev.issues, "document", *(f"items[{i}]" for i in range(len(source.items))))
        return
    apex_section(now, session, W)
    attach_files(pub, session.work.file_facts, session, W)
    st.markdown(md.schema_summary(ev.checks))
    with st.expander("Schema checks (offline)", expanded=not ev.valid):
        st.table(md.schema_rows(ev.checks))
    st.subheader("Readiness")
    for c in ev.checklist:
        st.markdown(f"{MARKS[c.ok]} **{c.label}**: {c.detail}")
    st.dataframe([e.to_dict() for e in ev.expiries], hide_index=True)
    st.button(  # checked before the rerun it starts, so that rerun shows the answers
        "Check assets",
        help="HEAD/GET each asset link (only now, with a timeout).",
        on_click=session.check_assets,
        args=(pub, timeout),
    )
    for note in pub.notes:
        st.caption(note)
    # Made only when asked: the diff while its expander is open, the zip when the button is clicked.
    with st.expander("Changes against the openEO results", key=W + "diff", on_change="rerun") as changes:
        if changes.open:
            st.code(md.diff_against_results(source.results, pub) or "(no change)", language="diff")
    st.download_button(
        "Download as a static catalogue (zip)",
        partial(md.catalogue_zip, draft, source.results, source.items),
        file_name=f"{draft.id}.zip",
        mime="application/zip",
        icon=":material/download:",
        on_click="ignore",  # a download changes nothing on the page
    )


if not session.loaded:
    st.info("**No job results yet.** Run the job on the Job page, or load its results document above.")
else:
    now = session.current(preview)
    st.caption(now.caption)
    st.session_state[StateKey.METADATA] = MetadataOutcome.of(
        now.evaluation, session.work.file_facts, rehost=md.Fix.COG in now.draft.fixes
    )
    form, side = st.columns([5, 4], gap="large")
    with form:
        edit_form(now, session, W)
    with side:
        results(now)
