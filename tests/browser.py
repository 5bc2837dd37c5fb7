"""A headless Chromium driven over the DevTools protocol on a pipe: no Python dependency, no port.

One browser a session (``Browser``): ``load`` opens a local page in a fresh tab of a given window
size, records every request the page makes, and answers what a person sees (``text``: the
rendered text, ``evaluate``: anything the page's layout can say) and a screenshot (``screenshot``).
Used by report.html's test and by ``scripts/report_screenshot.py``. ``find`` is None when no
Chromium is installed (``make install`` installs Debian's).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 60


def find() -> str | None:
    """The Chromium on the PATH (``CHROMIUM`` names another), or None."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return next((path for path in map(shutil.which, NAMES) if path), None)


def _above_four(fd: int) -> int:
    """``fd`` moved to a descriptor number above 4."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


class Browser:
    """Chromium, headless, its DevTools protocol on file descriptors 3 (to it) and 4 (from it)."""

    def __init__(self, executable: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        self._log = open(Path(self._profile.name) / "stderr.log", "wb")  # noqa: SIM115 (closed in close)
        to_browser, self._to = os.pipe()
        self._from, from_browser = os.pipe()
        # The browser's ends, above 4, so that making them its 3 and 4 cannot close one.
        to_browser, from_browser = (_above_four(fd) for fd in (to_browser, from_browser))

        def wire() -> None:  # in the child, before it runs Chromium
            os.dup2(to_browser, 3)  # inheritable, unlike the originals
            os.dup2(from_browser, 4)

        self._process = subprocess.Popen(  # the test's own browser, with fixed arguments
            [
                executable,
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            close_fds=False,  # 3 and 4 stay open; every other descriptor of ours is close-on-exec
            preexec_fn=wire,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._reader = os.fdopen(self._from, "rb", buffering=0)
        self._pending = b""
        self._next_id = 0
        self._session: str | None = None
        self.requests: list[str] = []  # every URL the loaded page asked for, itself first

    # --- the protocol -------------------------------------------------------------------------

    def send(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        """Call ``method`` (on the page's session, else the browser's) and wait for its answer."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def wait_for(self, event: str) -> dict[str, Any]:
        while True:
            message = self._receive()
            if message.get("method") == event:
                params: dict[str, Any] = message.get("params", {})
                return params

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._pending:
            ready, _, _ = select.select([self._reader], [], [], TIMEOUT_SECONDS)
            if not ready:
                raise TimeoutError(f"Chromium said nothing for {TIMEOUT_SECONDS} s")
            chunk = self._reader.read(1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed its DevTools pipe: {self._said()}")
            self._pending += chunk
        raw, self._pending = self._pending.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        return message

    def _said(self) -> str:
        self._log.flush()
        return (Path(self._profile.name) / "stderr.log").read_text(errors="replace")[-2000:]

    # --- pages ----------------------------------------------------------------------------------

    def load(self, path: Path, width: int = 1280, height: int = 1800) -> None:
        """Open ``path`` in a fresh tab of ``width`` x ``height`` CSS pixels, until it has loaded."""
        target = self.send("Target.createTarget", session=False, url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.send("Emulation.setScrollbarsHidden", hidden=True)  # the page as wide as the window
        self.requests = []
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (the test's, not the page's: it has none)."""
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def text(self) -> str:
        """The page's text as rendered: what a person reads (hidden text excluded)."""
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, *, full_page: bool = True) -> bytes:
        """A PNG of the page: the whole of it, or the window."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            )
        return base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])

    # --- life -----------------------------------------------------------------------------------

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close", session=False)
        try:
            self._process.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.close()
        os.close(self._to)
        self._log.close()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
