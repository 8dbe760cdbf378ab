"""The report as a browser sees it: headless Chromium loads a real run's page and its DOM is checked."""

from __future__ import annotations

import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from report_run import make_full_run
from syneg.data import load_dataset
from syneg.report import write_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (setup.sh installs it)")


def chromium(*args: str) -> str:
    """Run headless Chromium with ``args`` and return its stdout."""
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_report(make_full_run(tmp_path_factory.mktemp("report") / "run"))


@pytest.fixture(scope="module")
def dom(report) -> str:
    return chromium("--virtual-time-budget=5000", "--dump-dom", report.as_uri())


def test_headline_table_has_the_metric_rows(dom):
    table = re.search(r"<table class=\"headline\">.*?<tbody>(.*?)</tbody>", dom, re.S).group(1)
    assert re.findall(r"<tr><th>([^<]+)</th>", table) == ["nDCG@10", "R@100"]
    assert re.search(r"\[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]", table)


def test_every_image_decodes(dom):
    images = re.findall(r"<img [^>]*>", dom)
    assert images and all("src=\"data:image/png;base64," in img for img in images)
    assert re.search(r"<body data-broken=\"0\">", dom), "an image did not decode (or the load script did not run)"


def test_wins_and_losses_contain_query_text(dom):
    wins = re.search(r"<table class=\"wins\">(.*?)</table>", dom, re.S).group(1)
    texts = set(load_dataset(None, "dev", 0.3, 0).queries.values())
    cells = [unescape(c) for c in re.findall(r"<td>([^<]+)</td>", wins)]
    assert sum(cell in texts for cell in cells) == 10


def test_screenshot_renders(report, tmp_path):
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri())
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        assert len(image.convert("L").getcolors(256)) > 10  # not a blank page
