"""Streamlit helpers of the pages, one module per concern (no logic here: :mod:`apex_core` decides).

Shared by the pages: :mod:`~pages.common.session` (this session's settings, the map assets),
:mod:`~pages.common.errors` (``show_error``), :mod:`~pages.common.services` (the embedded services, the
default openEO backend and catalogue) and :mod:`~pages.common.signin` (a running OIDC device sign-in, on
the Job and Publish pages). Each page's own helpers live next to them: ``projects``, ``area``, ``job``
(with ``export``), ``preview``, ``metadata``, ``publish``.
"""

__all__: list[str] = []
