"""The Metadata page's APEx-readiness panel: the report with its one-click fixes, the temporal extent the
app proposes, and the result files re-attached per asset (the logic is :mod:`apex_core.metadata.apex`'s)."""

from __future__ import annotations

import streamlit as st

from apex_core import ApexError
from apex_core import metadata as md
from apex_core.resultfile import FileFacts
from pages.common.errors import show_error
from pages.common.metadata import FormState, MetadataSession
from pages.common.preview import save_upload, upload_folder

__all__ = ["apex_section", "attach_files", "proposal"]


def proposal(now: FormState, session: MetadataSession, prefix: str) -> None:
    """The temporal extent the app proposes when the results have none (a person confirms it)."""
    if now.evaluation.proposal is None or any(now.draft.interval):
        return
    (start, end), origin = now.evaluation.proposal
    st.info(f"The results have no temporal extent. Proposed from {origin}: **{start}** to **{end}**.")
    st.button(
        "Use the proposed temporal extent",
        key=prefix + "use_proposal",
        on_click=session.apply_fixes,
        args=([md.Fix.TEMPORAL],),
        icon=":material/event:",
    )


def attach_files(
    pub: md.PublishableCollection, files: dict[str, FileFacts], session: MetadataSession, prefix: str
) -> None:
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
            "Attach a file to", missing, format_func=lambda a: f"{a[1]} ({a[0]})", key=prefix + "attach_to"
        )
        # One uploader per attached file: once a file is attached a fresh (empty) one shows, so the same
        # upload is never read again on a rerun nor attached to the next asset still missing.
        upload = st.file_uploader("Result file", key=f"{prefix}attach_file_{len(files)}")
        if upload is not None and choice is not None:
            path = save_upload(upload, upload_folder())
            try:
                session.attach(pub, choice[2], upload.name, path)
            except ApexError as exc:
                show_error(exc)
                return
            st.rerun()


def apex_section(now: FormState, session: MetadataSession, prefix: str) -> None:
    """The APEx-readiness report: every rule that applies, its one-click fixes, what is asked of you."""
    report = now.evaluation.apex
    if report is None:
        return
    st.subheader("APEx readiness")
    (st.success if report.ready else st.warning)(report.headline())
    if report.fixes:
        st.button(
            f"Apply all {len(report.fixes)} fixes",
            key=prefix + "fix_all",
            type="primary",
            on_click=session.apply_fixes,
            args=(report.fixes, 4),
            icon=":material/auto_fix_high:",
        )
        cols = st.columns(2)
        for n, fix in enumerate(report.fixes):
            cols[n % 2].button(
                fix.label, key=prefix + "fix_" + fix.value, on_click=session.apply_fixes, args=([fix],)
            )
    for ask in report.asks:
        st.caption(f":material/edit: {ask.rule} · {ask.target}: {ask.detail} (fill in: {ask.ask})")
    st.dataframe(report.rows(), hide_index=True)
