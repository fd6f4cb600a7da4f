"""Latent Explorer. Run with `streamlit run app.py`.

This is the navigation frame (ui/frame.py): it draws the sidebar's model picker once for every
page, keeps the model in the URL, and guards the pages that apply to one model family only.
"""

from ui import frame

frame.run()
