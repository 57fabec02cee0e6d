"""Dashboard figures: start-up time, Run -> first heatmap, Stop latency, memory; screenshots.

Starts the real app (``python app.py``) in a subprocess, drives it with Playwright in Debian's
headless Chromium, and prints:

- seconds from ``python app.py`` to a served page (HTTP 200 on ``/``; models preloaded);
- seconds from clicking Run to the first archive heatmap on the page (shapes world);
- seconds from Run to the finished run, and from Stop to "stopped" on a longer run;
- resident memory (RSS, and its peak) of the app process after the runs and an export.

Screenshots of the main states are written to ``benchmarks/screenshots/``.

    python benchmarks/dashboard_timing.py [--generator shapes] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "benchmarks" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    to_mib = lambda v: int(v.split()[0]) / 1024  # noqa: E731 - kB -> MiB
    return to_mib(fields["VmRSS"]), to_mib(fields["VmHWM"])


def wait_text(page, elem_id: str, text: str) -> None:
    page.wait_for_function(
        "([id, t]) => (document.getElementById(id)?.textContent || '').includes(t)", arg=[elem_id, text], timeout=TIMEOUT_MS
    )


def wait_state(page, state: str) -> None:
    page.wait_for_selector(f'#qdgs-progress .qdgs-progress[data-state="{state}"]', timeout=TIMEOUT_MS)


def heatmap_text(page) -> str:
    """Text of the heatmap panel (its title changes with every new heatmap)."""
    return page.evaluate("() => document.getElementById('qdgs-heatmap')?.textContent || ''")


def _timed_runs(page, repeats: int, first: list, total: list, shot) -> None:
    """Clicks Run ``repeats`` times; records seconds to the first heatmap and to the end."""
    for i in range(repeats):
        before = heatmap_text(page)
        clicked = time.perf_counter()
        page.click("#qdgs-run")
        page.wait_for_function(
            "(b) => { const t = document.getElementById('qdgs-heatmap')?.textContent || ''; return t.includes('cells filled') && t !== b; }",
            arg=before, timeout=TIMEOUT_MS,
        )
        first.append(time.perf_counter() - clicked)
        if i == 0:
            shot(page, "02-running")
        wait_state(page, "done")
        total.append(time.perf_counter() - clicked)
        page.wait_for_timeout(300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs timed from click to first heatmap")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    runs_root = tempfile.mkdtemp(prefix="qdgs-bench-")
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), QDGS_RUNS_ROOT=runs_root, QDGS_KEEP_RUNS="0")
    t0 = time.perf_counter()
    log_path = Path(runs_root) / "app.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit("app.py exited:\n" + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        startup = time.perf_counter() - t0
        print(f"python app.py -> served page: {startup:.1f} s")
        print(f"RSS after start: {rss_mib(proc.pid)[0]:.0f} MiB")
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = (lambda page, name: None) if args.no_screenshots else (
            lambda page, name: page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        )

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            t_page = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#qdgs-run")
            print(f"page open in the browser (ready to click): {time.perf_counter() - t_page:.1f} s")
            shot(page, "01-start")

            first, total = [], []
            try:
                _timed_runs(page, args.repeats, first, total, shot)
            except Exception:
                page.screenshot(path=str(Path(runs_root) / "failure.png"), full_page=True)
                print(f"failure screenshot: {Path(runs_root) / 'failure.png'}", file=sys.stderr)
                raise
            print(f"click Run -> first heatmap: median {statistics.median(first):.2f} s over {len(first)} runs {[round(v, 2) for v in first]}")
            print(f"click Run -> run finished (default budget): median {statistics.median(total):.1f} s {[round(v, 1) for v in total]}")
            progress_text = page.locator("#qdgs-progress").inner_text()
            print(f"  last run: {progress_text.strip()}")
            shot(page, "03-done")
            page.get_by_role("tab", name="Samples").click()
            page.wait_for_selector("#qdgs-gallery img")
            page.locator("#qdgs-gallery img").nth(3).click()
            wait_text(page, "qdgs-selected-text", "quality (objective)")
            page.locator("#qdgs-random-gallery").scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            shot(page, "04-samples")

            # Stop a long run
            page.get_by_text("Advanced", exact=True).click()
            box = page.locator("#qdgs-evaluations input[type=number]")
            box.fill("20000")
            box.press("Enter")
            page.click("#qdgs-run")
            wait_state(page, "running")
            page.wait_for_function("() => /[1-9][\\d,]* \\/ 20,000/.test(document.getElementById('qdgs-progress').textContent)", timeout=TIMEOUT_MS)
            page.wait_for_timeout(1500)
            clicked = time.perf_counter()
            page.click("#qdgs-stop")
            wait_state(page, "stopped")
            print(f"click Stop -> run stopped and shown: {time.perf_counter() - clicked:.2f} s")
            shot(page, "05-stopped")

            page.get_by_role("tab", name="Dataset").click()
            clicked = time.perf_counter()
            page.click("#qdgs-export")
            page.wait_for_selector("#qdgs-download", state="visible", timeout=TIMEOUT_MS)
            print(f"click Build dataset (200 images) -> download ready: {time.perf_counter() - clicked:.1f} s")
            page.wait_for_timeout(500)
            shot(page, "06-dataset")
            browser.close()
        rss, peak = rss_mib(proc.pid)
        print(f"RSS of the app after runs and an export: {rss:.0f} MiB (peak {peak:.0f} MiB)")
    except BaseException:
        print("app log (tail):\n" + log_path.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        log_file.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
