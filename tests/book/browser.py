"""Headless Chromium for the book's browser tests, with the network off.

Debian's ``chromedriver`` (packages ``chromium`` and ``chromium-driver``) is driven with the few W3C
WebDriver calls the tests need, spoken over HTTP with the standard library.  Every request the
browser makes to the network is sent to a closed port, so a page must carry all it uses.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs a browser: Debian's chromium and chromium-driver "
                                       "(apt-get install chromium chromium-driver)")

OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]  # every request: refused


class WebDriver:
    """Headless Chromium through chromedriver's W3C WebDriver endpoints."""

    def __init__(self, width: int = 1400, height: int = 1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.base + "/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", f"--window-size={width},{height}",
                *OFFLINE]
        options = {"binary": CHROMIUM, "args": args}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})["sessionId"]

    def _call(self, method: str, path: str, body=None):
        request = urllib.request.Request(self.base + path, method=method, headers={"Content-Type": "application/json"},
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["value"]

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def execute(self, script: str, *args):
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": list(args)})

    def pointer(self, x: float, y: float, click: bool = False) -> None:
        """Move the mouse to the viewport point ``(x, y)``, and click there with ``click``."""
        steps = [{"type": "pointerMove", "duration": 50, "x": int(x), "y": int(y), "origin": "viewport"}]
        if click:
            steps += [{"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]
        self._call("POST", f"/session/{self.session}/actions", {"actions": [
            {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": steps}]})

    def quit(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=30)
