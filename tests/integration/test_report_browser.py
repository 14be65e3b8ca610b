"""A real browser opens the report of a real backtest, offline: every plot decodes and the page is not blank.

Chromium (Debian's package, installed by ./scripts/test) runs headless with networking off; the report must
render from its own bytes. No broker is needed, but an outside program is: hence the integration folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamdrift.cli import main
from tests.unit.test_report import STRICT, embedded_pngs, make_backtest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "report.png"
# Set to 1 to refresh docs/report.png from this test's screenshot.
WRITE_DOCS = "STREAMDRIFT_WRITE_DOCS_SCREENSHOT"

# After load, the page lists for each <img> whether the browser decoded it, and its natural size.
PROBE = """<script>
window.addEventListener("load", () => {
  const seen = Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
  document.body.setAttribute("data-probe", JSON.stringify(seen));
});
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    assert path, "chromium is not installed: ./scripts/test installs it (apt-get install chromium)"
    return path


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium, offline, with a fresh profile; `args` say what to do with the page."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}"
    return done


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    out = make_backtest(folder, {"credit-risk": STRICT})
    assert main(["report", str(out), "--output", str(folder / "report.html")]) == 0
    return folder / "report.html"


def test_chromium_decodes_every_plot_of_the_report(report, tmp_path):
    html = report.read_text(encoding="utf-8")
    expected = embedded_pngs(html)
    assert len(expected) >= 8
    probe = tmp_path / "probe.html"   # a copy: the report itself carries no script
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = browse(probe, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom").stdout.decode()
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the page did not finish loading in Chromium"
    images = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(images) == len(expected)
    assert all(complete and width > 100 and height > 50 for complete, width, height in images), images


def test_the_screenshot_of_the_report_is_not_blank(report, tmp_path):
    import matplotlib.image

    shot = tmp_path / "report.png"
    browse(report, tmp_path / "profile", "--window-size=1280,1700", f"--screenshot={shot}")
    pixels = matplotlib.image.imread(shot)[..., :3]
    colours, counts = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 200, f"the screenshot has only {len(colours)} colours"
    assert counts.max() / counts.sum() < 0.95, "the screenshot is almost one colour"
    background = np.all(pixels > 0.97, axis=-1)   # white cards and the near-white page
    assert (~background).mean() > 0.03, f"only {(~background).mean():.1%} of the screenshot is drawn"
    if os.environ.get(WRITE_DOCS):
        _save_for_docs(shot, DOCS_SCREENSHOT)


def _save_for_docs(shot: Path, target: Path) -> None:
    """A smaller copy for docs/: scaled to 70% and reduced to a 128-colour palette."""
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    image = image.resize((int(image.width * 0.7), int(image.height * 0.7)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
