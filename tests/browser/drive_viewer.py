#!/usr/bin/env python3
"""Drives a viewer page (report.html) in headless Chromium through the DevTools protocol
over a pipe (--remote-debugging-pipe: no port, no network), and prints one JSON object.

    drive_viewer.py --chromium PATH --page report.html --screenshot out.png [--bench] [--map]

It drags the epoch slider with real mouse events, reads back what the page rendered (the
epoch label and the number of points drawn), turns the train split on, hovers a point,
collects console errors and uncaught exceptions, and takes a screenshot. With --map (3-D
runs) it then switches to the equal-area map with a click, reads back what the map shows,
where the page puts two directions on it, and hovers a point there. With --bench it also
times scrubbing (ms per redraw and presented frames per second).

Standard library only; used by tests/viewer.rs and benches/viewer/bench.sh.
"""

import argparse
import base64
import fcntl
import json
import os
import pathlib
import select
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, chromium, width, height):
        self.profile = tempfile.TemporaryDirectory(prefix="arcface-viewer-")
        cmd_r, cmd_w = os.pipe()  # we write commands, Chromium reads fd 3
        resp_r, resp_w = os.pipe()  # Chromium writes fd 4, we read
        # Copies above the low numbers, so placing them at 3 and 4 in the child cannot clobber.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 20)
        child_w = fcntl.fcntl(resp_w, fcntl.F_DUPFD, 20)

        def place_pipes():
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--allow-file-access-from-files",
            f"--user-data-dir={self.profile.name}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(3, 4),
            preexec_fn=place_pipes,
        )
        for fd in (cmd_r, resp_w, child_r, child_w):
            os.close(fd)
        self.out = cmd_w
        self.inp = resp_r
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self.inp], [], [], left)
            if ready:
                chunk = os.read(self.inp, 1 << 20)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"Chromium closed the pipe; its stderr ends:\n{err}")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=60):
        deadline = time.time() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            e = self._read_message(deadline)
            if e.get("method") == method:
                return e
            self.events.append(e)

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.profile.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--page", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--no-train-click", action="store_true",
                    help="leave the train split as the page starts (for a README screenshot)")
    ap.add_argument("--map", action="store_true",
                    help="also switch a 3-D page to its map view, and hover a point there")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1000)
    a = ap.parse_args()

    url = pathlib.Path(a.page).resolve().as_uri()
    b = Browser(a.chromium, a.width, a.height)
    result = {"url": url}
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            b.send(f"{domain}.enable", session=s)
        b.send("Emulation.setDeviceMetricsOverride",
               {"width": a.width, "height": a.height, "deviceScaleFactor": 1, "mobile": False},
               session=s)
        b.send("Page.navigate", {"url": url}, session=s)
        b.wait_event("Page.loadEventFired", timeout=120)

        def js(expr, timeout=120):
            r = b.send("Runtime.evaluate",
                       {"expression": expr, "returnByValue": True, "awaitPromise": True},
                       session=s, timeout=timeout)
            if "exceptionDetails" in r:
                raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
            return r["result"].get("value")

        deadline = time.time() + 60
        while js("document.body.dataset.ready || ''") != "1":
            if time.time() > deadline:
                raise TimeoutError("the page never became ready (document.body.dataset.ready)")
            time.sleep(0.1)
        state = lambda: js(
            "({label: document.getElementById('epoch-label').textContent,"
            " epoch: document.getElementById('panels').dataset.epoch,"
            " points: Number(document.getElementById('panels').dataset.points),"
            " slider: Number(document.getElementById('epoch').value),"
            " max: Number(document.getElementById('epoch').max)})")
        result["initial"] = state()

        # Drag the slider's thumb from its end to a third of the way with the mouse.
        rect = js("(() => { const r = document.getElementById('epoch').getBoundingClientRect();"
                  " return {x: r.left, y: r.top, w: r.width, h: r.height}; })()")
        y = rect["y"] + rect["h"] / 2
        start = result["initial"]["slider"] / max(1, result["initial"]["max"])
        x0 = rect["x"] + 8 + start * (rect["w"] - 16)
        x1 = rect["x"] + 8 + (rect["w"] - 16) / 3
        mouse = lambda kind, x, **kw: b.send("Input.dispatchMouseEvent",
                                             dict(type=kind, x=x, y=y, button="left", **kw), session=s)
        mouse("mousePressed", x0, clickCount=1, buttons=1)
        for k in range(1, 9):
            mouse("mouseMoved", x0 + (x1 - x0) * k / 8, buttons=1)
        mouse("mouseReleased", x1, clickCount=1, buttons=0)
        js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        result["after_drag"] = state()

        # Turn the training split on with a click on its checkbox.
        box = js("(() => { const b = document.getElementById('split-train');"
                 " if (!b) return null; const r = b.getBoundingClientRect();"
                 " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
        if box and not a.no_train_click:
            for kind in ("mousePressed", "mouseReleased"):
                b.send("Input.dispatchMouseEvent",
                       {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
                       session=s)
            js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            result["with_train"] = state()

        # Hover the first drawn point of the first panel.
        spot = js("arcfaceViewer.firstPoint()")
        result["hover_target"] = spot
        if spot:
            b.send("Input.dispatchMouseEvent",
                   {"type": "mouseMoved", "x": spot["x"], "y": spot["y"]}, session=s)
            result["tooltip"] = js(
                "(() => { const t = document.getElementById('tooltip');"
                " return {hidden: t.hidden, text: t.textContent,"
                " thumbnail: !!t.querySelector('canvas')}; })()")

        if a.map:
            radio = js("(() => { const b = document.getElementById('view-map');"
                       " if (!b || b.closest('[hidden]')) return null; const r = b.getBoundingClientRect();"
                       " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
            result["map_toggle"] = radio is not None
            if radio:
                for kind in ("mousePressed", "mouseReleased"):
                    b.send("Input.dispatchMouseEvent",
                           {"type": kind, "x": radio["x"], "y": radio["y"], "button": "left",
                            "clickCount": 1},
                           session=s)
                js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                # The north pole, and the direction 150° east of the map's centre (30° E) and
                # 10° south: (cos 180° cos 10°, sin 180° cos 10°, -sin 10°).
                result["map"] = js(
                    "({state: arcfaceViewer.state(),"
                    " pole: arcfaceViewer.mapPoint(0, 0, 1),"
                    " back: arcfaceViewer.mapPoint(-0.984807753, 0, -0.173648178)})")
                spot = js("arcfaceViewer.firstPoint()")
                if spot:
                    b.send("Input.dispatchMouseEvent",
                           {"type": "mouseMoved", "x": spot["x"], "y": spot["y"]}, session=s)
                    result["map_tooltip"] = js(
                        "(() => { const t = document.getElementById('tooltip');"
                        " return {hidden: t.hidden, text: t.textContent}; })()")

        shot = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False},
                      session=s)
        pathlib.Path(a.screenshot).write_bytes(base64.b64decode(shot["data"]))
        result["screenshot"] = a.screenshot

        if a.bench:
            result["bench_ms_per_redraw"] = js("arcfaceViewer.bench(200)", timeout=600)
            result["bench_fps"] = js("arcfaceViewer.fps(3000)", timeout=600)
            result["bench_state"] = js("arcfaceViewer.state()")

        # Let late errors arrive, then collect every error the page reported.
        js("new Promise(r => setTimeout(r, 200))")
        errors = []
        for e in b.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                errors.append(p.get("exceptionDetails", {}).get("exception", {}).get("description")
                              or p.get("exceptionDetails", {}).get("text"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(" ".join(str(x.get("value", x.get("description"))) for x in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text"))
        result["errors"] = errors
    finally:
        b.close()
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
