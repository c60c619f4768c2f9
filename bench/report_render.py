"""Render a training loop's report.html in headless Chromium and check every image loads.

    .venv/bin/python bench/report_render.py WORKSPACE            # WORKSPACE/report.html -> WORKSPACE/report.png
    .venv/bin/python bench/report_render.py path/to/report.html --out shot.png

Checks, printed one per line, exit status 1 if any fails:
  - every <img> the page references exists beside it and is a PNG with a non-zero size;
  - in Chromium, after the page loaded, every <img> is complete with a natural width > 0 (a copy
    of the page with a small script that writes the count into the title, read with --dump-dom);
  - a full-page screenshot is written (look at it).
Not a test: CI has no Chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--hide-scrollbars"]
CHECK_SCRIPT = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.title = 'IMAGES ' + ok + '/' + imgs.length;
});</script>"""


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    sys.exit("no Chromium found: apt-get install -y chromium")


def run(browser: str, args: list[str], profile: str) -> str:
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="a workspace folder (its report.html) or a report.html")
    parser.add_argument("--out", help="screenshot PNG (default: report.png beside the page)")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    page = Path(args.target)
    page = page / "report.html" if page.is_dir() else page
    if not page.is_file():
        sys.exit(f"{page}: no report.html (run `training loop` first)")
    failures = 0
    parser_ = _Images()
    parser_.feed(page.read_text())
    for src in parser_.sources:
        size = png_size(page.parent / src) if (page.parent / src).is_file() else None
        ok = bool(size and size[0] > 0 and size[1] > 0)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} file {src}: {'%dx%d PNG' % size if size else 'missing or not a PNG'}")

    browser = chromium()
    with tempfile.TemporaryDirectory() as profile:
        check = page.with_name(".report-check.html")  # beside the page, so relative image paths resolve
        check.write_text(page.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
        try:
            dom = run(browser, ["--dump-dom", check.resolve().as_uri()], profile)
        finally:
            check.unlink(missing_ok=True)
        match = re.search(r"<title>IMAGES (\d+)/(\d+)</title>", dom)
        ok = bool(match and match.group(1) == match.group(2) == str(len(parser_.sources)))
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} chromium loaded images: {match.group(0)[7:-8] if match else 'no result (script did not run)'}")
        shot = Path(args.out) if args.out else page.with_name("report.png")
        run(browser, [f"--screenshot={shot.resolve()}", f"--window-size={args.width},{args.height}", page.resolve().as_uri()], profile)
        ok = shot.is_file() and png_size(shot) is not None
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} screenshot {shot}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
