"""A classroom on one server: N students exploring and M training at once, for a fixed time.

Each student is a Playwright page of one Chromium on this machine: explorers are tabs of one browser
profile (sharing its cache of the app's scripts), trainers have a profile each. Students arrive over
the first `--arrive-s` seconds. An explorer opens Traverse (a full page load), then presses ArrowRight
on a slider every 1.5–3.5 s and after every 25 presses goes to another page through the sidebar and
comes back (each visit timed from the click, or the navigation, to that page's content, idle). The
slider is the one Traverse opens on (`--slider live`): the Live scrub, timed in the page from keydown
to the decoded canvas being redrawn (as for the server's image, the paint that follows is not
included: headless Chromium delays animation frames of pages it deems hidden by up to a second);
or (`--slider server`) the server-side Sliders tab, timed from keydown to the decoder(z) image's new
src, as bench_slider.py does. A trainer opens Train, starts a run of the Train
page's defaults with many epochs, and notes how long it waited in the queue before it ran (it keeps
its page open, so its run stays alive). Beside them, /_stcore/health is polled twice a second, and
the server's process tree (the server and its worker processes) is sampled for memory, threads and
processes. Before class, one page of each kind is opened once (the server's caches warm, as after
the first student); it is not counted.

The browsers stand in for the students' own machines, but here they share the server's two cores:
this script, Playwright's driver and Chromium's processes run at nice 10 (`--browser-nice`), so that
the server's work comes first as it would with the browsers elsewhere. Their rendering time is still
inside every figure.

    python benchmarks/bench_classroom.py --explorers 30 --trainers 4 --seconds 180
    python benchmarks/bench_classroom.py --quick      # 2 explorers, 1 trainer, 25 s

Prints one JSON line: slider_p50_ms, slider_p95_ms, page_load_p50_ms, page_load_p95_ms,
health_p50_ms, health_p95_ms, health_max_ms, queue_waits_s, errors, peak_rss_mb, peak_threads,
peak_processes, and the goals (30 + 4 students: zero errors, slider p50 <= 150 ms, p95 <= 500 ms,
peak RSS <= 4 GB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import _common

ARM = """
() => {
    const caption = [...document.querySelectorAll('[data-testid="stImageCaption"]')]
        .find(c => c.textContent.includes("decoder(z)"));
    if (!caption) return false;
    const holder = caption.closest('[data-testid="stImage"]').parentElement;
    const before = holder.querySelector("img").getAttribute("src");
    window.__press = new Promise((resolve, reject) => {
        let t0 = null;
        document.addEventListener("keydown", () => { t0 = performance.now(); }, { capture: true, once: true });
        const obs = new MutationObserver(() => {
            const img = holder.querySelector("img");
            if (t0 === null || !img || img.getAttribute("src") === before) return;
            obs.disconnect();
            resolve(performance.now() - t0);
        });
        obs.observe(holder, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
        setTimeout(() => { obs.disconnect(); reject(new Error("no new image within 15 s")); }, 15000);
    });
    return true;
}
"""
ARM_LIVE = """
(canvas) => {  // inside the component's shadow root: handed over by Playwright
    const before = canvas.dataset.frame;
    window.__press = new Promise((resolve, reject) => {
        let t0 = null;
        document.addEventListener("keydown", () => { t0 = performance.now(); }, { capture: true, once: true });
        const obs = new MutationObserver(() => {
            if (t0 === null || canvas.dataset.frame === before) return;
            obs.disconnect();
            resolve(performance.now() - t0);  // drawn: the canvas holds the new image
        });
        obs.observe(canvas, { attributes: true, attributeFilter: ["data-frame"] });
        setTimeout(() => { obs.disconnect(); reject(new Error("no new image within 15 s")); }, 15000);
    });
    return true;
}
"""
IDLE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.dataset.testConnectionState === "CONNECTED" && app.dataset.testScriptState === "notRunning";
}"""
OTHER_PAGES = (("Home", "Latent Explorer"), ("Interpolate", "Interpolate"), ("Latent map", "Latent map"))  # nav, text
SLIDER = {"live": '.live-root input[type="range"]', "server": None}  # None: the server-side z sliders by role
PRESSES_PER_VISIT = 25
VIEWPORT = {"width": 1280, "height": 900}


class Tally:
    def __init__(self) -> None:
        self.slider_ms: list[float] = []
        self.steady_slider_ms: list[float] = []  # presses once every student has arrived and loaded
        self.steady_after = float("inf")  # monotonic time from which presses count as steady
        self.load_ms: list[float] = []
        self.queue_waits_s: list[float] = []
        self.errors: list[str] = []
        self.runs_started = 0
        self.browser_cpu_s = 0.0

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what}"[:300])
        _common.log(f"ERROR {who}: {what[:200]}")


async def _idle(page, timeout_ms=60_000) -> None:
    await page.wait_for_function(IDLE, timeout=timeout_ms)


async def _exceptions(page) -> int:
    return await page.locator('[data-testid="stException"]').count()


async def _open(page, url: str, ready: str, tally: Tally, who: str, nav: str | None = None) -> bool:
    """Load a page (`url`), or go to it through the sidebar's link `nav`, timed until its content is there."""
    t0 = time.perf_counter()
    try:
        if nav is None:
            await page.goto(url, timeout=90_000)  # as long as the content may take
        else:
            await page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=nav, exact=True).click()
        await page.get_by_text(ready, exact=False).first.wait_for(timeout=90_000)
        await _idle(page, 90_000)
    except Exception as exc:  # noqa: BLE001 (a timeout is the measured failure)
        tally.error(who, f"{url}: {type(exc).__name__}: {exc}")
        return False
    tally.load_ms.append((time.perf_counter() - t0) * 1000)
    if await _exceptions(page):
        tally.error(who, f"{url}: an exception is shown on the page")
    return True


async def _traverse_ready(page, mode: str) -> None:
    """Traverse's slider of this mode is there (the server's sliders are on the second tab)."""
    if mode == "server":
        await page.get_by_role("tab", name=re.compile("^Sliders")).click()
        await page.get_by_text("decoder(z)").first.wait_for(timeout=90_000)
    else:
        await page.locator('[data-testid="live-canvas"][data-frame]').wait_for(timeout=90_000)


async def explorer(context, url: str, i: int, until: float, tally: Tally, rng: random.Random,
                   arrive_s: float, mode: str) -> None:
    who = f"explorer {i}"
    page = await context.new_page()
    try:
        await asyncio.sleep(rng.uniform(0, arrive_s))  # students arrive over the first minute
        if not await _open(page, f"{url}/Traverse", "Traverse the latent", tally, who):
            return
        await _traverse_ready(page, mode)
        presses = 0
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(1.5, 3.5))  # a student looks before moving again
            if presses and presses % PRESSES_PER_VISIT == 0:  # now and then another page, then back
                name, ready = OTHER_PAGES[(presses // PRESSES_PER_VISIT + i) % len(OTHER_PAGES)]
                await _open(page, url, ready, tally, who, nav=name)
                if not await _open(page, url, "Traverse the latent", tally, who, nav="Traverse"):
                    return
                await _traverse_ready(page, mode)
            try:
                if SLIDER[mode]:
                    slider = page.locator(SLIDER[mode]).first
                else:
                    slider = page.get_by_role("slider", name=re.compile(r"^z\d+\b")).first
                await slider.focus()
                armed = (await page.locator('[data-testid="live-canvas"]').first.evaluate(ARM_LIVE)
                         if mode == "live" else await page.evaluate(ARM))
                if not armed:
                    tally.error(who, "no decoded image on Traverse")
                    continue
                await page.keyboard.press("ArrowRight" if (presses // 10) % 2 == 0 else "ArrowLeft")
                tally.slider_ms.append(await page.evaluate("window.__press"))
                if time.monotonic() >= tally.steady_after:
                    tally.steady_slider_ms.append(tally.slider_ms[-1])
                presses += 1
            except Exception as exc:  # noqa: BLE001
                tally.error(who, f"slider: {type(exc).__name__}: {exc}")
        if await _exceptions(page):
            tally.error(who, "an exception is shown on the page")
    finally:
        await page.close()


async def trainer(browser, url: str, i: int, until: float, epochs: int, tally: Tally, rng: random.Random,
                  arrive_s: float) -> None:
    who = f"trainer {i}"
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    try:
        await asyncio.sleep(rng.uniform(0, arrive_s))
        if not await _open(page, f"{url}/Train", "Start training", tally, who):
            return
        try:
            field = page.get_by_label("Epochs", exact=True)
            await field.fill(str(epochs))
            await field.press("Enter")
            await _idle(page)
            clicked = time.perf_counter()
            await page.get_by_role("button", name=re.compile("Start training")).first.click()
            await page.locator('[data-testid="stProgress"]').first.wait_for(timeout=max(1000, (until - time.monotonic())
                                                                                     * 1000))
            tally.queue_waits_s.append(time.perf_counter() - clicked)
            tally.runs_started += 1
        except Exception as exc:  # noqa: BLE001 (still queued when the time is up is not an error)
            if time.monotonic() < until - 1:
                tally.error(who, f"start: {type(exc).__name__}: {exc}")
            else:
                tally.queue_waits_s.append(time.perf_counter() - clicked)
        while time.monotonic() < until:  # the page stays open: its run stays alive
            await asyncio.sleep(1)
        if await _exceptions(page):
            tally.error(who, "an exception is shown on the page")
        stop = page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile("^(Stop|Leave the queue)$"))
        for _ in range(3):  # the live view redraws every second: a button may be replaced mid-click
            try:
                if await stop.count():
                    await stop.first.click(timeout=5000)
                break
            except Exception:  # noqa: BLE001 (tried again; a run not stopped here stops after the grace period)
                await asyncio.sleep(0.5)
    finally:
        await context.close()


def _tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _renice_browsers(nice: int) -> None:
    """Chromium's processes to `nice` (it raises some of its own; they stand in for other machines)."""
    for pid in _chromium_pids():
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():  # every thread: Chromium sets some apart
                if os.getpriority(os.PRIO_PROCESS, int(task.name)) != nice:
                    os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
        except (OSError, ValueError):
            continue


def _cpu_s(pids) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _chromium_pids() -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"chromium" in (entry / "cmdline").read_bytes()[:200]:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def _training_workers(pid: int) -> int:
    """Worker processes still alive under the server (multiprocessing's resource tracker aside)."""
    count = 0
    for p in _tree(pid)[1:]:
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            count += 1
    return count


def _status(pid: int) -> dict[str, int]:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return fields


class Sampler(threading.Thread):
    """Health-endpoint latency and the server tree's memory, threads and processes."""

    def __init__(self, url: str, pid: int, browser_nice: int = 0) -> None:
        super().__init__(daemon=True)
        self.url, self.pid, self.browser_nice = url, pid, browser_nice
        self.health_ms: list[float] = []
        self.health_errors = 0
        self.peak_rss_kb = self.peak_threads = self.peak_processes = 0
        self.workers_cpu_s = 0.0  # of workers that have ended (the live ones are read at the end)
        self._last_cpu: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(OSError):  # this thread measures the server: not at the students' priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 0)
        while not self.stop.wait(0.5):
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as resp:
                    ok = resp.status == 200
            except OSError:
                ok = False
            if ok:
                self.health_ms.append((time.perf_counter() - t0) * 1000)
            else:
                self.health_errors += 1
            if self.browser_nice:
                _renice_browsers(self.browser_nice)
            pids = _tree(self.pid)
            for gone in set(self._last_cpu) - set(pids):
                self.workers_cpu_s += self._last_cpu.pop(gone)
            for p in pids[1:]:
                self._last_cpu[p] = _cpu_s([p])
            stats = [_status(p) for p in pids]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(s.get("VmRSS", 0) for s in stats))
            self.peak_threads = max(self.peak_threads, sum(s.get("Threads", 0) for s in stats))
            self.peak_processes = max(self.peak_processes, len(pids))


def _q(values: list[float], q: float) -> float | None:
    return round(_common.quantile(values, q), 1) if values else None


async def classroom(url: str, args, tally: Tally) -> None:
    from playwright.async_api import async_playwright

    rng = random.Random(0)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=_common.find_chromium(), args=_common.CHROMIUM_ARGS)
        # The teacher opens each page once before class: the server's caches (model, dataset, statistics)
        # are warm, as they are after the first student. Not counted.
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        warm = Tally()
        for name, ready in (("Traverse", "Traverse the latent"), *OTHER_PAGES, ("Train", "Start training")):
            await _open(page, f"{url}/{name.replace(' ', '_')}", ready, warm, "teacher")
        await context.close()
        if warm.errors:
            tally.errors.extend(warm.errors)
        until = time.monotonic() + args.seconds
        tally.steady_after = time.monotonic() + args.arrive_s + 30  # the last arrival's page has loaded
        # Explorers are tabs of one browser (sharing its cache of the app's scripts, as a student's own
        # browser would after the first visit); each tab is a session of its own on the server.
        # Trainers each have a browser profile of their own: each is its own owner of runs.
        explorers = await browser.new_context(viewport=VIEWPORT)
        jobs = [explorer(explorers, url, i, until, tally, random.Random(rng.random()), args.arrive_s, args.slider)
                for i in range(args.explorers)]
        jobs += [trainer(browser, url, i, until, args.epochs, tally, random.Random(rng.random()), args.arrive_s)
                 for i in range(args.trainers)]
        await asyncio.gather(*jobs)
        tally.browser_cpu_s = _cpu_s(_chromium_pids())  # before the browser's processes are gone
        await explorers.close()
        await browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--explorers", type=int, default=30)
    ap.add_argument("--trainers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=180.0, help="how long the class works")
    ap.add_argument("--epochs", type=int, default=300, help="epochs each trainer asks for (runs outlast the class)")
    ap.add_argument("--arrive-s", type=float, default=60.0, help="students arrive over this many seconds")
    ap.add_argument("--browser-nice", type=int, default=10, help="CPU priority of the browsers (0: as launched)")
    ap.add_argument("--slider", choices=("live", "server"), default="live",
                    help="live: the Live scrub Traverse opens on (decoded in the page); server: the Sliders tab")
    ap.add_argument("--quick", action="store_true", help="2 explorers, 1 trainer, 25 s")
    args = ap.parse_args()
    if args.quick:
        args.explorers, args.trainers, args.seconds, args.arrive_s = 2, 1, 25.0, 3.0
    base = {"benchmark": "classroom", "explorers": args.explorers, "trainers": args.trainers,
            "seconds": args.seconds, "arrive_s": args.arrive_s, "slider": args.slider,
            "browser_nice": args.browser_nice, "presses_per_visit": PRESSES_PER_VISIT, "quick": args.quick}
    missing = _common.browser_missing()
    if missing:
        _common.emit({**base, "skipped": missing})
        sys.exit(0)
    machine = _common.machine()
    tally = Tally()
    with tempfile.TemporaryDirectory() as runs:
        os.environ["LATENT_EXPLORER_RUNS"] = runs  # the server inherits it: the class's runs go here
        with _common.streamlit_server() as server:
            if args.browser_nice:  # this script, Playwright's driver and the browsers: the students' side
                os.nice(args.browser_nice)
            sampler = Sampler(server.url, server.pid, args.browser_nice)
            sampler.start()
            started = time.perf_counter()
            asyncio.run(classroom(server.url, args, tally))
            wall = time.perf_counter() - started
            cpu = {"server": _cpu_s([server.pid]), "workers": _cpu_s(_tree(server.pid)[1:]) + sampler.workers_cpu_s,
                   "browsers": tally.browser_cpu_s}
            deadline = time.monotonic() + 60  # Stop reaches each worker within a batch; then it saves and exits
            while _training_workers(server.pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            sampler.stop.set()
            sampler.join()
            leftover_workers = _training_workers(server.pid)
    goals = {"errors": 0, "slider_p50_ms": 150, "slider_p95_ms": 500, "peak_rss_mb": 4096}
    result = {
        **base,
        "wall_s": round(wall, 1),
        "slider_presses": len(tally.slider_ms),
        "slider_p50_ms": _q(tally.slider_ms, 0.5),
        "slider_p95_ms": _q(tally.slider_ms, 0.95),
        "slider_max_ms": round(max(tally.slider_ms), 1) if tally.slider_ms else None,
        "slider_after_arrivals_p50_ms": _q(tally.steady_slider_ms, 0.5),
        "slider_after_arrivals_p95_ms": _q(tally.steady_slider_ms, 0.95),
        "page_loads": len(tally.load_ms),
        "page_load_p50_ms": _q(tally.load_ms, 0.5),
        "page_load_p95_ms": _q(tally.load_ms, 0.95),
        "health_p50_ms": _q(sampler.health_ms, 0.5),
        "health_p95_ms": _q(sampler.health_ms, 0.95),
        "health_max_ms": round(max(sampler.health_ms), 1) if sampler.health_ms else None,
        "health_failures": sampler.health_errors,
        "runs_started": tally.runs_started,
        "queue_waits_s": [round(w, 1) for w in tally.queue_waits_s],
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
        "peak_threads": sampler.peak_threads,
        "peak_processes": sampler.peak_processes,
        "worker_processes_left_60s_after_stop": leftover_workers,
        "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        "server_cpu_s_per_action": round(cpu["server"] / max(1, len(tally.slider_ms) + len(tally.load_ms)), 3),
        "server_cores_used": round(cpu["server"] / wall, 3),
        "goal": goals,
        "machine": machine,
    }
    result["meets_goal"] = bool(
        result["errors"] == 0 and result["slider_p50_ms"] is not None
        and result["slider_p50_ms"] <= goals["slider_p50_ms"] and result["slider_p95_ms"] <= goals["slider_p95_ms"]
        and result["peak_rss_mb"] <= goals["peak_rss_mb"])
    if args.quick:
        result["note"] = "quick mode: a smoke run, not the classroom figures"
    _common.emit(result)


if __name__ == "__main__":
    main()
