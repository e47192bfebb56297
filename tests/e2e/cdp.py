"""A tiny Chrome DevTools Protocol driver for headless Chromium (no extra dependency).

Enough for the page tests: navigate, evaluate JavaScript, answer prompt() dialogs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.conftest import free_port, missing_service, wait_port

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    missing_service("Chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


class Browser:
    def __init__(self, profile: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                chromium_binary(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={self.port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_port(self.port, 20):
            self.close()
            raise RuntimeError("Chromium's DevTools port did not open")
        targets = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=5).json()
        page = next(t for t in targets if t["type"] == "page")
        self.ws: ClientConnection = connect(page["webSocketDebuggerUrl"], max_size=None)
        self._id = 0
        self.dialogs: list[dict[str, Any]] = []
        self.prompt_answer: str | None = None
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=15))
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)
        raise TimeoutError(method)

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(message["params"])
            answer = self.prompt_answer
            self.ws.send(
                json.dumps(
                    {
                        "id": 10**6 + len(self.dialogs),
                        "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": answer is not None, "promptText": answer or ""},
                    }
                )
            )

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression!r}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
