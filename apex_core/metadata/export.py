"""What the person can take away: the changes against the job results, and a static catalogue zip."""

from __future__ import annotations

import difflib
import io
import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pystac

from apex_core.metadata.build import PublishableCollection, build_collection
from apex_core.metadata.checks import check_draft, raise_first_error
from apex_core.metadata.draft import CollectionDraft

__all__ = ["catalogue_zip", "diff_against_results"]


def diff_against_results(results: Mapping[str, Any], publishable: PublishableCollection) -> str:
    """Unified diff of the pretty JSON: what openEO returned vs the collection to publish."""
    before = json.dumps(results, indent=2, sort_keys=True, default=str).splitlines()
    after = json.dumps(publishable.collection, indent=2, sort_keys=True, default=str).splitlines()
    return "\n".join(
        difflib.unified_diff(before, after, "openEO job results", "collection to publish", lineterm="", n=2)
    )


def catalogue_zip(
    draft: CollectionDraft, results: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()
) -> bytes:
    """A self-contained static STAC catalogue (``collection.json`` + one folder per item) as zip bytes."""
    raise_first_error(check_draft(draft))
    collection, _notes = build_collection(draft, results, items)
    collection.extra_fields["_auth"] = {"read": list(draft.auth_read), "write": list(draft.auth_write)}
    with tempfile.TemporaryDirectory(prefix="apex-catalogue-") as tmp:
        root = Path(tmp) / draft.id
        collection.normalize_hrefs(str(root), skip_unresolved=True)
        collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(root.parent).as_posix())
        return buf.getvalue()
