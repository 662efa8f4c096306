"""The web UI: `twin ui`, or `python serve/ui.py` (settings from TWIN_* variables).

NiceGUI's test `User` runs this file as its main file.
"""

from twin.ui.app import run_ui

if __name__ in {"__main__", "__mp_main__"}:
    run_ui()
