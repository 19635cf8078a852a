"""report.html rendered in headless Chromium (Debian's `chromium` package): no console errors, no broken images.

`make test-setup` (run by `make test`) installs chromium and chromium-driver with apt-get when they
are missing and apt is usable; elsewhere these tests are skipped, naming what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sim import load_scenario, run
from sim.report import write_report
from sim.report.document import CSP

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not on PATH: install Debian's chromium and chromium-driver packages (`make test-setup`)"
)
QUICKSTART = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.yaml"
# Injected into a copy of the page only: the shipped report carries no script. After load it
# counts the images the browser could not decode and writes the counts into the DOM.
PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).length;
  document.body.setAttribute('data-images', images.length);
  document.body.setAttribute('data-broken-images', broken);
});
</script>"""


def render(page: Path, workdir: Path) -> tuple[int, int, list[str]]:
    """Open `page` in headless Chromium: (images, broken images, console messages)."""
    html = page.read_text(encoding="utf-8")
    probed = html.replace(CSP, CSP + "; script-src 'unsafe-inline'").replace("</body>", PROBE + "</body>")
    target = workdir / f"probe-{page.stem}.html"
    target.write_text(probed, encoding="utf-8")
    args = [CHROMIUM or "chromium", "--headless", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    args += [f"--user-data-dir={workdir / 'profile'}", "--dump-dom", target.as_uri()]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = {k: int(v) for k, v in re.findall(r'data-(images|broken-images)="(\d+)"', done.stdout)}
    assert set(found) == {"images", "broken-images"}, "the probe did not run: " + done.stdout[:500]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return found["images"], found["broken-images"], console


def test_report_html_renders_without_errors_or_broken_images(tmp_path: Path) -> None:
    """A run's report opens in Chromium with every figure decoded and nothing on the console."""
    folder = run(load_scenario(QUICKSTART, ["duration=2s", "workload.until=1.5s", "faults=[{at: 1s, crash: leader}]"])).save(
        tmp_path / "run"
    )
    _, page = write_report(folder)
    images, broken, console = render(page, tmp_path)
    assert images == len(list((folder / "plots").glob("*.png"))) > 0
    assert broken == 0 and console == []


def test_the_browser_check_catches_a_broken_image_and_an_external_url(tmp_path: Path) -> None:
    """The same check on a page with a corrupt embedded image and an external image reports both."""
    page = tmp_path / "bad.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}"></head><body>'
        '<img src="data:image/png;base64,AAAA" alt="corrupt"><img src="https://example.invalid/x.png" alt="external"></body></html>',
        encoding="utf-8",
    )
    images, broken, console = render(page, tmp_path)
    assert images == 2 and broken == 2
    assert any("example.invalid" in line for line in console)


def test_plane_report_html_renders_without_errors_or_broken_images(tmp_path: Path) -> None:
    """A fleet run's report (three planes, the fleet timeline, the pipeline tables) opens in Chromium cleanly."""
    fleet = Path(__file__).resolve().parent.parent / "scenarios" / "fleet" / "partition.yaml"
    folder = run(load_scenario(fleet)).save(tmp_path / "run")
    _, page = write_report(folder)
    images, broken, console = render(page, tmp_path)
    assert images == len(list((folder / "plots").rglob("*.png"))) > 10
    assert broken == 0 and console == []
    assert "The pipeline: end-to-end time" in page.read_text(encoding="utf-8")
