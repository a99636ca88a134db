"""A small list of common SPDX licence ids for STAC ``license`` fields, plus STAC's ``other``.

STAC 1.1 wants an SPDX id, or ``other`` together with a ``license`` link to the terms. ``proprietary``
(what openEO job results carry) and ``various`` are deprecated since STAC 1.1: choose a real licence.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_LICENCE", "LICENCES", "LICENCE_ID_PATTERN", "OTHER", "licence_label"]

DEFAULT_LICENCE = "CC-BY-4.0"
OTHER = "other"

# SPDX id -> full name. Common open data and software licences; "other" for anything else.
LICENCES: dict[str, str] = {
    "CC-BY-4.0": "Creative Commons Attribution 4.0 International",
    "CC-BY-SA-4.0": "Creative Commons Attribution Share Alike 4.0 International",
    "CC-BY-NC-4.0": "Creative Commons Attribution Non Commercial 4.0 International",
    "CC-BY-NC-SA-4.0": "Creative Commons Attribution Non Commercial Share Alike 4.0 International",
    "CC-BY-ND-4.0": "Creative Commons Attribution No Derivatives 4.0 International",
    "CC-BY-3.0": "Creative Commons Attribution 3.0 Unported",
    "CC-BY-3.0-IGO": "Creative Commons Attribution 3.0 IGO",
    "CC0-1.0": "Creative Commons Zero v1.0 Universal",
    "ODbL-1.0": "Open Data Commons Open Database License v1.0",
    "ODC-By-1.0": "Open Data Commons Attribution License v1.0",
    "PDDL-1.0": "Open Data Commons Public Domain Dedication & License 1.0",
    "CDLA-Permissive-2.0": "Community Data License Agreement Permissive 2.0",
    "CDLA-Sharing-1.0": "Community Data License Agreement Sharing 1.0",
    "etalab-2.0": "Etalab Open License 2.0",
    "OGL-UK-3.0": "Open Government Licence v3.0",
    "DL-DE-BY-2.0": "Data licence Germany - attribution - version 2.0",
    "EUPL-1.2": "European Union Public License 1.2",
    "Apache-2.0": "Apache License 2.0",
    "MIT": "MIT License",
    "BSD-3-Clause": "BSD 3-Clause License",
    "GPL-3.0-or-later": "GNU General Public License v3.0 or later",
    "LGPL-3.0-or-later": "GNU Lesser General Public License v3.0 or later",
    "MPL-2.0": "Mozilla Public License 2.0",
    OTHER: "Other licence (give the link to its terms)",
}

# STAC 1.1 collection schema: ``license`` is a string of word characters, '-', '.', '+'.
LICENCE_ID_PATTERN = re.compile(r"^[\w\-\.\+]+$")


def licence_label(licence_id: str) -> str:
    """``"CC-BY-4.0 — Creative Commons Attribution 4.0 International"`` (the id alone if unknown)."""
    name = LICENCES.get(licence_id)
    return f"{licence_id} — {name}" if name else licence_id
