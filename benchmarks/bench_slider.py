"""Slider latency on the Traverse page's server-side Sliders tab: ArrowRight on the z0 slider -> the
decoder(z) image changes (the Live scrub tab, decoded in the page, is timed by bench_classroom.py).

Timed inside Chromium: from the keydown event to the mutation that gives the decoder(z) <img> a new
src (and, separately, to that image having loaded). One press at a time, waiting for the app to be
idle in between. One press right after the page loads is reported apart; the timed presses
start once the page has settled.

    python benchmarks/bench_slider.py            # 1 + 30 presses
    python benchmarks/bench_slider.py --quick    # 1 + 5 presses
    python benchmarks/bench_slider.py --while-training   # a training run going on in the same session
"""

from __future__ import annotations

import argparse
import re
import sys

import _common

ARM = """
() => {
    // Resolves with {src_ms, load_ms}: keydown -> new src, keydown -> that image loaded.
    const caption = [...document.querySelectorAll('[data-testid="stImageCaption"]')]
        .find(c => c.textContent.includes("decoder(z)"));
    const holder = caption.closest('[data-testid="stImage"]').parentElement;
    const before = holder.querySelector("img").getAttribute("src");
    window.__press = new Promise((resolve, reject) => {
        let t0 = null;
        const onKey = () => { t0 = performance.now(); };
        document.addEventListener("keydown", onKey, { capture: true, once: true });
        const obs = new MutationObserver(() => {
            const img = holder.querySelector("img");
            if (t0 === null || !img || img.getAttribute("src") === before) return;
            const srcMs = performance.now() - t0;
            obs.disconnect();
            const done = () => resolve({ src_ms: srcMs, load_ms: performance.now() - t0 });
            if (img.complete && img.naturalWidth > 0) done(); else img.decode().then(done, done);
        });
        obs.observe(holder, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
        setTimeout(() => { obs.disconnect(); reject(new Error("no new image within 10 s")); }, 10000);
    });
    return before;
}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 presses instead of 30")
    ap.add_argument("--presses", type=int, default=None)
    ap.add_argument("--while-training", action="store_true",
                    help="with a training run (Train page defaults, 10,000 epochs) going on in the same session")
    args = ap.parse_args()
    presses = args.presses or (5 if args.quick else 30)
    machine = _common.machine()
    base = {"benchmark": "slider", "quick": args.quick, "page": "/Traverse", "presses": presses,
            "while_training": args.while_training}
    missing = _common.browser_missing()
    if missing:
        _common.emit({**base, "skipped": missing})
        sys.exit(0)

    from playwright.sync_api import sync_playwright

    src_s, load_s = [], []
    with _common.streamlit_server() as server, sync_playwright() as pw:
        browser = _common.launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        if args.while_training:
            # Same session: start a long run on the Train page, then go to Traverse through the sidebar.
            page.goto(server.url + "/Train")
            epochs = page.get_by_label("Epochs", exact=True)
            epochs.fill("10000")
            epochs.press("Enter")
            _common.wait_idle(page)
            page.get_by_role("button", name=re.compile("Start training")).click()
            page.locator('[data-testid="stProgress"]').wait_for(timeout=90_000)
            page.locator('[data-testid="stSidebarNav"] a', has_text="Traverse").click()
        else:
            page.goto(server.url + "/Traverse")
        page.get_by_role("tab", name=re.compile("^Sliders")).click()  # the sliders the server decodes for
        page.locator('[data-testid="stImageCaption"]', has_text="decoder(z)").wait_for(timeout=90_000)
        _common.wait_idle(page)
        slider = page.get_by_role("slider", name=re.compile(r"^z0\b")).first
        slider.focus()
        start_value = slider.input_value()

        def press() -> dict:
            page.evaluate(ARM)
            page.keyboard.press("ArrowRight")
            return page.evaluate("window.__press")

        # A press as soon as the page is idle competes with the page still loading (charts, components):
        # reported on its own. The timed presses start after the page has settled.
        first = press()
        _common.wait_idle(page)
        page.wait_for_timeout(1500)
        for i in range(presses):
            timing = press()
            src_s.append(timing["src_ms"] / 1000)
            load_s.append(timing["load_ms"] / 1000)
            _common.wait_idle(page)
            page.wait_for_timeout(50)
            _common.log(f"press {i + 1}: {timing['src_ms']:.0f} ms to new src, {timing['load_ms']:.0f} ms loaded")
        end_value = slider.input_value()
        browser.close()

    src = _common.summary_ms(src_s)
    _common.emit({
        **base,
        "slider_from": float(start_value),
        "slider_to": float(end_value),
        "median_ms": src["median_ms"],
        "p95_ms": src["p95_ms"],
        "src_change": src,
        "image_loaded": _common.summary_ms(load_s),
        "first_press_right_after_load_ms": round(first["src_ms"], 1),
        "goal": {"median_ms": 60, "p95_ms": 150},
        "meets_goal": src["median_ms"] <= 60 and src["p95_ms"] <= 150,
        "machine": machine,
    })


if __name__ == "__main__":
    main()
