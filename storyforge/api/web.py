"""What a browser gets: the web page, Swagger UI and ReDoc served from this server (their assets come from the
`fastapi-offline` package, so the docs work with no internet), and security headers on every response.

The page keeps the API key in localStorage, so it runs under a strict Content-Security-Policy (scripts and styles
from this server only, no framing); the docs pages allow their one inline script by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """Adds the headers above to every response, and a deny-all CSP where the route set none."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS.items() if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", API_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _docs_assets() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    return Path(fastapi_offline.__file__).parent / "static"


def _with_inline_hashes(page: HTMLResponse) -> HTMLResponse:
    """The docs page under a CSP that admits exactly its own inline scripts."""
    html = page.body.decode()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )
    csp = (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
           "connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def add_pages(app: FastAPI) -> None:
    """`/` (the page), `/static/…` (its script and style), `/docs` and `/redoc` with local assets."""
    static = files("storyforge.api").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    assets = _docs_assets()
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(
            static.joinpath("index.html").read_text(encoding="utf-8"), headers={"Content-Security-Policy": PAGE_CSP}
        )

    def docs(make: Any) -> HTMLResponse:
        if assets is None:
            return HTMLResponse("pip install fastapi-offline for the docs pages (or read /openapi.json).", status_code=404)
        return _with_inline_hashes(make(openapi_url=app.openapi_url, title=f"{app.title} API"))

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def swagger() -> HTMLResponse:
        return docs(lambda **common: get_swagger_ui_html(**common, swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                    swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="/docs-assets/favicon.png"))  # fmt: skip

    @app.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return docs(lambda **common: get_redoc_html(**common, redoc_js_url="/docs-assets/redoc.standalone.js",
                    redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False))  # fmt: skip
