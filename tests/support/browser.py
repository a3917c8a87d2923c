"""Headless Chromium driven over the DevTools protocol (CDP), the way the page tests use a browser: navigate,
evaluate JavaScript, wait for a condition, take a screenshot. Needs `chromium` (apt-get install chromium) and
`websocket-client`."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.serve import free_port, wait_http


class Browser:
    def __init__(self, profile: Path, width: int = 1280, height: int = 900) -> None:
        import websocket

        port = free_port()
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
             f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{port}/json/version")
            target = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json").json() if t["type"] == "page")
            self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=60)
        except BaseException:
            self.close()
            raise
        self._ids = iter(range(1, 10**9))
        self.errors: list[str] = []  # uncaught exceptions on the page
        self.cdp("Runtime.enable")

    def cdp(self, method: str, **params) -> dict:
        n = next(self._ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("method") == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(message["params"]["exceptionDetails"])[:2000])
            if message.get("id") == n:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str):
        result = self.cdp("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def until(self, expression: str, timeout: float = 60, why: str = "") -> object:
        """Wait until the expression is truthy; returns its value. On timeout, says what `why` evaluates to."""
        deadline = time.monotonic() + timeout
        while not (value := self.js(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} still false after {timeout}s: {self.js(why) if why else ''} {self.errors}")
            time.sleep(0.25)
        return value

    def goto(self, url: str) -> None:
        self.cdp("Page.navigate", url=url)
        self.until("document.readyState === 'complete'", 30)

    def reload(self) -> None:
        self.cdp("Page.reload", ignoreCache=True)
        time.sleep(0.3)
        self.until("document.readyState === 'complete'", 30)

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.cdp("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)

    def screenshot(self, path: Path, full: bool = True) -> Path:
        data = self.cdp("Page.captureScreenshot", format="png", captureBeyondViewport=full)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
