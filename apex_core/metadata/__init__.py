"""From an openEO job's STAC results to a clean, valid STAC 1.1 Collection for an APEx-style catalogue.

The steps follow the APEx notebook "Using the APEx Product Catalogue with openEO" (results dict -> new
id -> ``pystac.Collection.from_dict`` -> licence -> no ``collection``/``canonical`` links ->
``normalize_hrefs`` -> self-contained layout) and fix what it leaves broken:

- every item's ``collection`` field is the new id;
- ``derived_from`` links with bare ``/eodata/...`` paths (which a catalogue resolves against its own URL,
  giving broken links) are dropped, or made absolute against a base the user gives (``s3://eodata``);
- the link rels a STAC API generates itself (``self``, ``root``, ``parent``, ``items``, ``item``,
  ``collection``) and openEO's signed ``canonical`` link are stripped *before* pystac sees them; items
  are kept as separate objects to POST to ``/collections/{id}/items``;
- STAC 1.0 and 1.1 input (``eo:bands``/``bands``, ``proj:epsg``/``proj:code``, collection-level and
  item-level assets, optional ``processing:expression``) gives STAC 1.1.0 output.

One concept per module (import from this package; the modules are its layout):

- :mod:`~apex_core.metadata.results`: the job results to start from (the Job page's document or
  uploaded files) and their items, fetched over HTTP from the signed ``item`` links;
- :mod:`~apex_core.metadata.links`: signed asset links, when they expire and whether they answer;
- :mod:`~apex_core.metadata.values`, :mod:`~apex_core.metadata.ids`, :mod:`~apex_core.metadata.draft`:
  what a person edits, a :class:`CollectionDraft`;
- :mod:`~apex_core.metadata.build`: the pystac build, :meth:`CollectionDraft.apply` gives the
  :class:`PublishableCollection` (collection dict + item dicts);
- :mod:`~apex_core.metadata.checks`: :func:`check_draft`, field-level issues;
- :mod:`~apex_core.metadata.schema` and :mod:`~apex_core.metadata.extensions`: :func:`validate_stac`,
  the core STAC JSON schemas offline and each extension's field checks (reported as not validated);
- :mod:`~apex_core.metadata.apex` and :mod:`~apex_core.metadata.fixes`: the APEx-readiness report
  (every APEx rule per collection, item and asset) and its one-click fixes;
- :mod:`~apex_core.metadata.readiness`: :func:`evaluate` (each step once) and :func:`readiness`;
- :mod:`~apex_core.metadata.export`: the diff against the results and a static catalogue zip.

What is NDVI's (render key, value range, render defaults) comes from :mod:`apex_core.ndvi`; the band
statistics are :class:`apex_core.statistics.BandStatistics`. The form and the page's session state
belong to the Metadata page (``pages/common/metadata.py``).
"""

from apex_core.metadata.apex import (
    RULES,
    ApexReport,
    RuleResult,
    apex_report,
    fixed_draft,
    looks_like_ndvi,
    render_proposal,
    temporal_proposal,
)
from apex_core.metadata.build import (
    PROJECTION_V2,
    SERVER_RELS,
    PublishableCollection,
    absolute_eodata_href,
    build_collection,
    publishable,
)
from apex_core.metadata.checks import FieldIssue, Severity, check_draft
from apex_core.metadata.draft import CollectionDraft, pick_statistics
from apex_core.metadata.export import catalogue_zip, diff_against_results
from apex_core.metadata.fixes import Fix, apply_fixes
from apex_core.metadata.ids import check_slug, suggest_id
from apex_core.metadata.links import (
    AssetExpiry,
    Reachability,
    asset_expiries,
    asset_hrefs,
    check_reachable,
    format_time_left,
    href_expiry,
)
from apex_core.metadata.readiness import CheckItem, Evaluation, evaluate, readiness
from apex_core.metadata.results import (
    LoadedResults,
    collection_ids,
    fetch_items,
    item_links,
    job_fingerprint,
    read_attachment,
    read_documents,
    read_files,
    read_upload,
    results_from_job,
    results_from_upload,
    upload_fingerprint,
)
from apex_core.metadata.schema import SchemaCheck, schema_rows, schema_summary, validate_stac
from apex_core.metadata.values import (
    ADMIN_ONLY_READ_ROLE,
    COLORMAPS,
    DEFAULT_ROLE,
    PROVIDER_ROLES,
    STAC_VERSION,
    Provider,
    RenderHints,
)
from apex_core.statistics import BandStatistics

__all__ = [
    "ADMIN_ONLY_READ_ROLE",
    "COLORMAPS",
    "DEFAULT_ROLE",
    "PROJECTION_V2",
    "PROVIDER_ROLES",
    "RULES",
    "SERVER_RELS",
    "STAC_VERSION",
    "ApexReport",
    "AssetExpiry",
    "BandStatistics",
    "CheckItem",
    "CollectionDraft",
    "Evaluation",
    "FieldIssue",
    "Fix",
    "LoadedResults",
    "Provider",
    "PublishableCollection",
    "Reachability",
    "RenderHints",
    "RuleResult",
    "SchemaCheck",
    "Severity",
    "absolute_eodata_href",
    "apex_report",
    "apply_fixes",
    "asset_expiries",
    "asset_hrefs",
    "build_collection",
    "catalogue_zip",
    "check_draft",
    "check_reachable",
    "check_slug",
    "collection_ids",
    "diff_against_results",
    "evaluate",
    "fetch_items",
    "fixed_draft",
    "format_time_left",
    "href_expiry",
    "item_links",
    "job_fingerprint",
    "looks_like_ndvi",
    "pick_statistics",
    "publishable",
    "read_attachment",
    "read_documents",
    "read_files",
    "read_upload",
    "readiness",
    "render_proposal",
    "results_from_job",
    "results_from_upload",
    "schema_rows",
    "schema_summary",
    "suggest_id",
    "temporal_proposal",
    "upload_fingerprint",
    "validate_stac",
]
