"""Where the browser tests save their screenshots.

Every run takes them (a page that fails to render fails its test); the README's copies under docs/ are
refreshed only with UPDATE_SCREENSHOTS=1, so a test run leaves the work tree clean."""

import os
import tempfile
from pathlib import Path

SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="screenshots-"))
)
