"""Serve the app: `streamlit run app.py` with any extra Streamlit options passed through.

Why not plain `streamlit run`: Streamlit 1.67 decides once per process, at its first session,
whether the app is a "pages/ directory" (v1) multipage app, because a `pages/` folder exists beside
the main script. This app navigates with `st.navigation` (v2), and until app.py has run once the
first deep link (e.g. /job right after a start) would be routed the v1 way and show a
"Page not found" dialog. We tell Streamlit up front that this app uses `st.navigation`.
The browser tests start the app through this file, so a Streamlit upgrade that breaks it is seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

APP = Path(__file__).resolve().parent.parent / "app.py"

if __name__ == "__main__":
    PagesManager.uses_pages_directory = False
    cli.main(args=["run", str(APP), *sys.argv[1:]], prog_name="streamlit")
