"""The app's pages: the five step scripts in pages/flow/, shared Streamlit helpers in pages/common/."""
