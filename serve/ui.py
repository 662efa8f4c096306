"""The web UI: `twin ui`, or `python serve/ui.py` (settings from TWIN_* variables).

NiceGUI's test `User` runs this file as its main file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.ui.app import run_ui  # noqa: E402

if __name__ in {"__main__", "__mp_main__"}:
    run_ui()
