"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only).

Starts headless Chromium with the network disabled (proxy to a closed port, every host
name unresolvable; the page is loaded from ``file://``), opens one page, collects console
errors, uncaught exceptions and failed loads, evaluates JavaScript in the page and takes a
screenshot.  The pipe transport needs no port and no websocket package: Chromium reads
commands from fd 3 and writes replies to fd 4, each message NUL-terminated JSON.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

__all__ = ["find_chromium", "Browser", "BrowserError", "ARTIFACTS"]

#: (what, path) of the artefacts the tests kept; conftest lists them after the run
ARTIFACTS: list[tuple[str, str]] = []


class BrowserError(RuntimeError):
    """Chromium failed, answered with an error, or took too long."""


def find_chromium() -> str | None:
    """Path of a Chromium binary (Debian's ``chromium`` first), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    """One headless Chromium with one page.  Use as a context manager."""

    def __init__(self, binary: str, *, width: int = 1280, height: int = 2400,
                 timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="dunelog-chromium-")
        self.errors: list[str] = []         # console errors, exceptions, failed loads
        self.requests: list[str] = []       # every URL the page asked for
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "--hide-scrollbars",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--mute-audio",
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--allow-file-access-from-files",
                "about:blank"]

        def fds() -> None:                      # runs in the child before exec
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)   # out of the way of 3, 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._stderr = open(  # noqa: SIM115 - closed in close()
            os.path.join(self.profile, "stderr.log"), "w+b")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, preexec_fn=fds,
                                     pass_fds=(3, 4))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.session: str | None = None

    # ------------------------------------------------------------------ protocol
    def _read_msg(self, deadline: float) -> dict:
        import select
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("timed out waiting for Chromium")
            r, _, _ = select.select([self._from_chrome], [], [], left)
            if not r:
                continue
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace")
                raise BrowserError(f"Chromium closed the pipe: {err[-2000:]}")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def _note(self, ev: dict) -> None:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console." + p["type"] + ": " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: " + str(d.get("exception", {}).get(
                "description", d.get("text"))))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
        elif m == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))
        elif m == "Network.loadingFailed":
            self.errors.append(f"load failed: {p.get('errorText')}")
        self._events.append(ev)

    def send(self, method: str, params: dict | None = None, *, session: bool = True) -> Any:
        """Send one command and wait for its result (events meanwhile are collected)."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            r = self._read_msg(deadline)
            if r.get("id") == self._id:
                if "error" in r:
                    raise BrowserError(f"{method}: {r['error']}")
                return r.get("result", {})
            self._note(r)

    def wait_event(self, method: str) -> dict:
        """Wait for an event of the page session (or return one already seen)."""
        for ev in self._events:
            if ev.get("method") == method:
                self._events.remove(ev)
                return ev
        deadline = time.monotonic() + self.timeout
        while True:
            r = self._read_msg(deadline)
            self._note(r)
            if r.get("method") == method:
                return r

    # ------------------------------------------------------------------ page
    def open(self, url: str) -> None:
        """Attach to the page, enable the domains and load ``url`` (waits for load)."""
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for dom in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.send(dom)
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page; returns its JSON value."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError(f"evaluate {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path: str) -> int:
        """Full-page PNG screenshot to ``path``; returns its size in bytes."""
        m = self.send("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        png = base64.b64decode(self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})["data"])
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def close(self) -> None:
        """Close Chromium and remove its profile."""
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False)
                except (BrowserError, OSError):
                    pass
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
