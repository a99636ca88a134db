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
from apex_core.resultfile import FileFacts
from pages.common.errors import show_error
from pages.common.metadata import FormState, MetadataSession, edit_form, notes
from pages.common.preview import save_upload, upload_folder
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


def proposal(now: FormState) -> None:
    """The temporal extent the app proposes when the results have none (a person confirms it)."""
    if now.evaluation.proposal is None or any(now.draft.interval):
        return
    (start, end), origin = now.evaluation.proposal
    st.info(f"The results have no temporal extent. Proposed from {origin}: **{start}** to **{end}**.")
    st.button(
        "Use the proposed temporal extent",
        key=W + "use_proposal",
        on_click=session.apply_fixes,
        args=([md.Fix.TEMPORAL],),
        icon=":material/event:",
    )


def attach_files(pub: md.PublishableCollection, files: dict[str, FileFacts]) -> None:
    """Re-attach the result files (what APEx asks for that only the file knows: size, checksum, nodata,
    resolution, classes, COG layout)."""
    assets = [(o, k, h) for o, k, h in md.asset_hrefs(pub.collection, pub.items)]
    missing = [a for a in assets if a[2] not in files]
    with st.expander(
        f"Result files on this machine ({len(assets) - len(missing)} of {len(assets)})",
        expanded=bool(missing),
    ):
        st.caption(
            "What only the file says (size, checksum, nodata, resolution, classes, tile layout) is read "
            "from it. The Job step's downloads are here already; for other results, attach the files."
        )
        for owner, key, href in assets:
            facts = files.get(href)
            shown = f"{facts.path.name}, {facts.size:,} bytes" if facts else "not on this machine"
            st.markdown(f"- **{key}** ({owner}): {shown}")
        if not missing:
            return
        choice = st.selectbox(
            "Attach a file to", missing, format_func=lambda a: f"{a[1]} ({a[0]})", key=W + "attach_to"
        )
        upload = st.file_uploader("Result file", key=W + "attach_file")
        if upload is not None and choice is not None:
            path = save_upload(upload, upload_folder())
            try:
                session.attach(pub, choice[2], upload.name, path)
            except ApexError as exc:
                show_error(exc)
                return
            st.rerun()


def apex_section(now: FormState) -> None:
    """The APEx-readiness report: every rule that applies, its one-click fixes, what is asked of you."""
    report = now.evaluation.apex
    if report is None:
        return
    st.subheader("APEx readiness")
    (st.success if report.ready else st.warning)(report.headline())
    if report.fixes:
        st.button(
            f"Apply all {len(report.fixes)} fixes",
            key=W + "fix_all",
            type="primary",
            on_click=session.apply_fixes,
            args=(report.fixes, 4),
            icon=":material/auto_fix_high:",
        )
        cols = st.columns(2)
        for n, fix in enumerate(report.fixes):
            cols[n % 2].button(
                fix.label, key=W + "fix_" + fix.value, on_click=session.apply_fixes, args=([fix],)
            )
    for ask in report.asks:
        st.caption(f":material/edit: {ask.rule} · {ask.target}: {ask.detail} (fill in: {ask.ask})")
    st.dataframe(report.rows(), hide_index=True)


def results(now: FormState) -> None:
    draft, ev, source = now.draft, now.evaluation, now.source
    proposal(now)
    ok, headline = ev.headline(draft.id)
    (st.success if ok else st.error)(headline)
    if (pub := ev.publishable) is None:
        notes(ev.issues, "document", *(f"items[{i}]" for i in range(len(source.items))))
        return
    apex_section(now)
    attach_files(pub, session.work.file_facts)
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
