"""The Metadata page's own helpers: its form described as data (drawn by one generic loop), the page's
state in the session (:class:`MetadataSession`), and the Streamlit code that draws the form.

The logic (the draft, its checks, the build, readiness) is :mod:`apex_core.metadata`'s; this module only
knows widgets: which field is which widget, and the widget keys the form's values live under.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, MutableMapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import streamlit as st

from apex_core import metadata as md
from apex_core.errors import MetadataError
from apex_core.flow import JobOutcome, MetadataWork, PreviewOutcome, StateKey
from apex_core.licences import LICENCES, OTHER, licence_label
from apex_core.resultfile import FileFacts, local_asset_files

__all__ = [
    "FORM_SECTIONS",
    "FieldKind",
    "FormField",
    "FormSection",
    "FormState",
    "MetadataSession",
    "edit_form",
    "form_fields",
    "form_rows",
    "notes",
    "render_field",
]

# --------------------------------------------------------------------------------------------------
# The form, described as data (the page renders it with one generic loop)
# --------------------------------------------------------------------------------------------------


# "live_text": a text the app gets while the person types (``st.text_input(live=True)``), not on Enter
FieldKind = Literal[
    "text", "live_text", "textarea", "select", "multiselect", "number", "checkbox", "list", "radio"
]


@dataclass(frozen=True)
class FormSection:
    """A group of fields, with the heading (markdown) and caption shown above it."""

    name: str
    heading: str = ""
    caption: str = ""


FORM_SECTIONS = (
    FormSection("main"),
    FormSection("providers", "**Providers**"),
    FormSection("extent", "**Extent** (prefilled from the job)"),
    FormSection(
        "items",
        "**Items**",
        "Item ids from a pattern: {collection}, {date} (YYYYMMDD; start-end for a composite), {start}, "
        "{end}, {original} (openEO's id), {n}. Stable names let next month's results join the collection.",
    ),
    FormSection(
        "access",
        "**Access rules** (`_auth`, required by the catalogue)",
        "Both lists are required. `anonymous` (everyone) may never write; "
        "only catalogue administrators may put `anonymous` in read.",
    ),
    FormSection("render"),
    FormSection("links"),
)


@dataclass(frozen=True)
class FormField:
    """One widget of the metadata form. ``key`` is the form field name (:meth:`CollectionDraft.form_values`),
    ``list`` a comma-separated text, ``option_labels`` what to show for each option, ``row`` groups
    consecutive fields side by side (``width`` their relative widths), ``markdown`` a text area with a
    preview, ``caption`` a line under the widget, ``issues`` what :func:`check_draft` says about it."""

    key: str
    label: str
    kind: FieldKind = "text"
    help: str | None = None
    options: tuple[str, ...] = ()
    section: str = "main"
    option_labels: tuple[str, ...] = ()
    row: str | None = None
    width: int = 1
    number_format: str | None = None
    markdown: bool = False
    caption: str | None = None
    issues: tuple[md.FieldIssue, ...] = ()


def _ids_caption(names: Sequence[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(f"`{n}`" for n in names[:3])
    return f"{len(names)} item(s): {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def form_fields(
    draft: md.CollectionDraft,
    statistics: md.BandStatistics | None = None,
    issues: Sequence[md.FieldIssue] | None = None,
    item_names: Sequence[str] = (),
) -> tuple[FormField, ...]:
    """The form for ``draft``, in order: fields that do not apply (the licence link unless the licence
    is ``other``, the render settings while render hints are off, the statistics box without
    ``statistics``, the /eodata base unless links are made absolute) are left out. Each field carries
    its issues (``issues``, else :func:`check_draft`'s)."""
    licences = tuple(dict.fromkeys([*LICENCES, draft.license]))
    fields: list[FormField] = [
        FormField(
            "id",
            "Id",
            "live_text",
            help="Lowercase letters, digits, '-' and '_'; 3 to 64 characters; starts with a letter.",
        ),
        FormField("title", "Title"),
        FormField("description", "Description", "textarea", markdown=True),
        FormField(
            "license",
            "Licence (type to search)",
            "select",
            options=licences,
            option_labels=tuple(licence_label(lic) for lic in licences),
        ),
    ]
    if draft.license == OTHER:
        fields.append(FormField("license_url", "Link to the licence terms"))
    fields.append(FormField("keywords", "Keywords (comma-separated)", "list"))
    for i in range(len(draft.providers)):
        fields += [
            FormField(f"provider_{i}_name", "Name", section="providers", row=f"provider_{i}", width=4),
            FormField(
                f"provider_{i}_roles",
                "Roles",
                "multiselect",
                options=md.PROVIDER_ROLES,
                section="providers",
                row=f"provider_{i}",
                width=4,
            ),
            FormField(f"provider_{i}_url", "URL", section="providers", row=f"provider_{i}", width=5),
        ]
    for name in ("west", "south", "east", "north"):
        fields.append(
            FormField(name, name.capitalize(), "number", section="extent", row="bbox", number_format="%.6f")
        )
    fields += [
        FormField("start", "Start (ISO 8601)", section="extent", row="interval"),
        FormField("end", "End (ISO 8601)", section="extent", row="interval"),
        FormField("item_ids", "Item ids (pattern)", section="items", caption=_ids_caption(item_names)),
        FormField("auth_read", "Read roles (comma-separated)", "list", section="access", row="auth"),
        FormField("auth_write", "Write roles (comma-separated)", "list", section="access", row="auth"),
        FormField("render_on", "Render hints (render extension v2.0.0)", "checkbox", section="render"),
    ]
    if draft.render is not None:
        fields += [
            FormField("render_min", "Rescale min", "number", section="render", row="render"),
            FormField("render_max", "Rescale max", "number", section="render", row="render"),
            FormField(
                "colormap",
                "Colormap",
                "select",
                options=(*md.COLORMAPS, ""),
                option_labels=(*md.COLORMAPS, "the classes' colours"),
                section="render",
                row="render",
            ),
        ]
    if statistics is not None:
        fields.append(
            FormField(
                "stats_on",
                f"raster:bands statistics from the {statistics.source}",
                "checkbox",
                section="render",
                caption=", ".join(f"{k} {v:g}" for k, v in statistics.stac_statistics().items()),
            )
        )
    fields.append(
        FormField(
            "derived_from",
            "Bare `/eodata/...` derived_from links",
            "radio",
            options=("drop", "absolute"),
            section="links",
        )
    )
    if draft.derived_from == "absolute":
        fields.append(FormField("eodata_base", "Absolute base for /eodata", section="links"))
    found = tuple(md.check_draft(draft) if issues is None else issues)
    return tuple(replace(f, issues=tuple(i for i in found if i.field == f.key)) for f in fields)


def form_rows(fields: Iterable[FormField], section: str) -> tuple[tuple[FormField, ...], ...]:
    """The fields of ``section``, grouped into rows (consecutive fields with the same ``row``)."""
    mine = [f for f in fields if f.section == section]
    return tuple(tuple(group) for _row, group in itertools.groupby(mine, key=lambda f: f.row or f.key))


# --------------------------------------------------------------------------------------------------
# The Metadata page's state: its own dict in the session, and the form's widget values
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormState:
    """One run of the Metadata page: the loaded source, the draft with the form's values, the statistics
    to offer (the Preview page's for this job, else the saved ones), the draft's :func:`md.evaluate` and
    the form's fields with their issues. Made once per run (:meth:`MetadataSession.current`): what the
    page draws is read from it, never computed again."""

    source: md.LoadedResults
    draft: md.CollectionDraft
    statistics: md.BandStatistics | None
    evaluation: md.Evaluation
    fields: tuple[FormField, ...]

    @property
    def caption(self) -> str:
        """Where the source came from, its item count and what was wrong with it."""
        return f"From {self.source.origin}: {len(self.source.items)} item(s). " + " ".join(
            self.source.problems
        )


@dataclass(frozen=True)
class MetadataSession:
    """The Metadata page's state in the session (a plain mapping: no Streamlit call).

    Its work in progress is one :class:`~apex_core.flow.MetadataWork` under ``key`` (replaced, never
    mutated); the form's widget values live under ``prefix``: they are dropped on a page change, the
    draft is not, and they are seeded from it. ``keep`` are the widgets under ``prefix`` that are not
    the form's.
    """

    state: MutableMapping[Any, Any]
    key: str = StateKey.METADATA_DRAFT
    prefix: str = "md_"
    keep: frozenset[str] = frozenset({"upload", "diff"})

    @property
    def work(self) -> MetadataWork:
        work = self.state.get(self.key)
        return work if isinstance(work, MetadataWork) else MetadataWork()

    def _save(self, **changes: Any) -> None:
        self.state[self.key] = replace(self.work, **changes)

    @property
    def loaded(self) -> bool:
        return self.work.source is not None and self.work.draft is not None

    def remember(self, fingerprint: str | None) -> bool:
        """True the first time ``fingerprint`` (a finished job, a set of uploaded files) comes; it is
        remembered, so the same source is not loaded again over the person's edits."""
        if not fingerprint or fingerprint in self.work.loaded:
            return False
        self._save(loaded=(*self.work.loaded, fingerprint))
        return True

    def load_job(self, job: JobOutcome | None, timeout: float, preview: PreviewOutcome | None = None) -> None:
        """The Job page's finished results (:func:`md.results_from_job`), unless they were loaded already,
        with the facts of the files the Job step downloaded (read once, here)."""
        if self.remember(md.job_fingerprint(job)):
            loaded = md.results_from_job(job, timeout)
            paths = local_asset_files((loaded.results, *loaded.items), job)
            self.load(loaded, preview, md.read_files(paths, loaded.process))

    def load_upload(
        self, files: Sequence[tuple[str, bytes]], timeout: float, preview: PreviewOutcome | None = None
    ) -> None:
        """Uploaded documents (:func:`md.results_from_upload`), unless these files were loaded already."""
        if files and self.remember(md.upload_fingerprint(files)):
            self.load(md.results_from_upload(files, timeout), preview)

    def load(
        self,
        loaded: md.LoadedResults,
        preview: PreviewOutcome | None = None,
        files: tuple[tuple[str, FileFacts], ...] = (),
    ) -> None:
        """A new source: a fresh draft from it, its statistics, no asset check yet, the form reseeded;
        ``files``: the facts of its result files on this machine (asset href, facts)."""
        draft = md.CollectionDraft.from_results(loaded.results, loaded.items, preview=preview)
        self._save(source=loaded, draft=draft, statistics=draft.statistics, reach=None, files=files)
        self._forget("")

    def reset(self, preview: PreviewOutcome | None = None) -> None:
        """The form back to the loaded source (the attached files stay)."""
        if (source := self.work.source) is not None:
            self.load(source, preview, self.work.files)

    def attach(self, pub: md.PublishableCollection, href: str, name: str, path: Path) -> None:
        """A result file on this machine for the asset of ``pub`` at ``href`` (``name``: the file's own
        name): checked to be that kind of file, its facts read now, once, for the fixes that need it."""
        source = self.work.source
        documents = (pub.collection, *pub.items)
        found = md.read_attachment(documents, href, path, name, source.process if source else None)
        kept = tuple((h, f) for h, f in self.work.files if h != href)
        self._save(files=(*kept, found))

    def apply_fixes(self, fixes: Sequence[md.Fix], rounds: int = 1) -> None:
        """Choose ``fixes`` (:func:`md.fixed_draft`); with ``rounds`` > 1, also the fixes the new
        report offers after each round (a fix can make a rule apply that did not: items from files)."""
        work = self.work
        source, draft = work.source, work.draft
        if source is None or draft is None:
            return
        files = work.file_facts
        todo = list(fixes)
        for _ in range(rounds):
            ev = md.evaluate(draft, source.results, source.items, files=files, process=source.process)
            proposal = ev.proposal[0] if ev.proposal else None
            for fix in todo:
                draft = md.fixed_draft(draft, fix, ev.publishable, files, proposal)
            ev = md.evaluate(draft, source.results, source.items, files=files, process=source.process)
            todo = [f for f in (ev.apex.fixes if ev.apex else ()) if f.value not in draft.fixes]
            if ev.proposal and not any(draft.interval):
                todo.append(md.Fix.TEMPORAL)
            if not todo:
                break
        self._save(draft=draft)
        self._forget("")

    def edit_providers(self, remove: int | None = None) -> None:
        """A provider added (``remove`` None), or the one at index ``remove`` removed."""
        if (draft := self.work.draft) is None:
            return
        self._save(
            draft=draft.with_provider_added() if remove is None else draft.with_provider_removed(remove)
        )
        self._forget("provider")

    def check_assets(self, publishable: md.PublishableCollection, timeout: float) -> None:
        """Check every asset link now (:func:`md.check_reachable`); the checklist shows the answers."""
        hrefs = [href for _owner, _key, href in md.asset_hrefs(publishable.collection, publishable.items)]
        self._save(reach=tuple(md.check_reachable(hrefs, timeout)))

    def current(self, preview: PreviewOutcome | None = None) -> FormState:
        """The stored draft with the form's values (widgets seeded from it first), kept in the work."""
        work = self.work
        source, saved = work.source, work.draft
        if source is None or saved is None:
            raise MetadataError("No job results are loaded yet.")
        stats = md.pick_statistics(preview, work.statistics, source.results.get("id"))
        for key, value in saved.form_values().items():
            self.state.setdefault(self.prefix + key, value)
        n = len(self.prefix)
        values = {str(k)[n:]: v for k, v in self.state.items() if str(k).startswith(self.prefix)}
        draft = saved.with_form(values, statistics=stats)
        if draft != saved:
            self._save(draft=draft)
        reach = list(work.reach) if work.reach is not None else None
        evaluation = md.evaluate(
            draft,
            source.results,
            source.items,
            reachability=reach,
            files=work.file_facts,
            process=source.process,
        )
        pub = evaluation.publishable
        names = [str(i.get("id")) for i in pub.items] if pub is not None else []
        fields = form_fields(draft, stats, evaluation.issues, names)
        return FormState(source, draft, stats, evaluation, fields)

    def _forget(self, start: str) -> None:
        """Drop the form's widget values whose name starts with ``start``: they reseed from the draft."""
        n = len(self.prefix)
        names = [k for k in self.state if str(k).startswith(self.prefix + start)]
        for key in [k for k in names if str(k)[n:] not in self.keep]:
            del self.state[key]


# --------------------------------------------------------------------------------------------------
# Drawing the form
# --------------------------------------------------------------------------------------------------


def render_field(field: FormField, key: str | None = None) -> Any:
    """The widget for one :class:`FormField`, in the current container, keyed ``key``
    (default ``field.key``; seed ``st.session_state[key]`` for its value); returns the widget's value."""
    kw: dict[str, Any] = {"key": key or field.key, "help": field.help}
    labels = dict(zip(field.options, field.option_labels, strict=False))
    value: Any
    if field.kind == "textarea":
        write, show = st.tabs([f"{field.label} (markdown)", "Preview"]) if field.markdown else (st, None)
        value = write.text_area(field.label, height=120, **kw)
        if show is not None:
            show.markdown(value)
    elif field.kind == "select":
        value = st.selectbox(field.label, field.options, format_func=lambda o: labels.get(o, o), **kw)
    elif field.kind == "radio":
        value = st.radio(field.label, field.options, horizontal=True, **kw)
    elif field.kind == "multiselect":
        value = st.multiselect(field.label, field.options, **kw)
    elif field.kind == "number":
        value = st.number_input(field.label, format=field.number_format, **kw)
    elif field.kind == "checkbox":
        value = st.checkbox(field.label, **kw)
    else:  # text, list (comma-separated); live_text is sent while the person types (250 ms pause)
        value = st.text_input(field.label, live=field.kind == "live_text", **kw)
    if field.caption:
        st.caption(field.caption)
    return value


def notes(issues: Iterable[md.FieldIssue], *names: str) -> None:
    """The messages of ``issues`` (those about ``names``, when given), errors red, warnings orange."""
    for issue in (i for i in issues if not names or i.field in names):
        (st.error if issue.severity == "error" else st.warning)(issue.message, icon=":material/error:")


def edit_form(
    now: FormState, session: MetadataSession, prefix: str, sections: Sequence[str] | None = None
) -> None:
    """The form's sections (those named in ``sections``, default all), each field under
    ``prefix + field.key``, with its messages under it."""
    for section in (s for s in FORM_SECTIONS if sections is None or s.name in sections):
        if section.heading:
            st.markdown(section.heading)
        if section.caption:
            st.caption(section.caption)
        providers = section.name == "providers"  # a provider's row ends with its delete button
        align = "bottom" if providers else "top"
        for n, row in enumerate(form_rows(now.fields, section.name)):
            widths = [f.width for f in row] + [1] * providers
            cols = st.columns(widths, vertical_alignment=align) if len(widths) > 1 else [nullcontext()]
            for col, field in zip(cols, row, strict=False):
                with col:
                    render_field(field, prefix + field.key)
            if providers:
                cols[-1].button(
                    "",
                    key=f"{prefix}remove_{n}",
                    icon=":material/delete:",
                    on_click=session.edit_providers,
                    args=(n,),
                )
            notes(i for f in row for i in f.issues)
        if providers:
            st.button("Add provider", on_click=session.edit_providers, icon=":material/add:")
            notes(now.evaluation.issues, "providers")
