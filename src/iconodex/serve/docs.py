"""The API docs (/docs, /redoc) with Swagger UI and ReDoc served from an installed package.

FastAPI's own pages load their scripts from a CDN, so they are blank on an air-gapped machine;
``fastapi-offline`` ships the same assets. The pages carry no inline script (Swagger UI is started
by ``static/docs.js``), so they keep a Content-Security-Policy as strict as the search page's.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# Swagger UI sets inline style attributes and shows its logo as a data: SVG.
DOCS_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self'; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
               "base-uri 'none'")
HEADERS = {"Content-Security-Policy": DOCS_POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} – API</title>
  <link rel="icon" href="{assets}/favicon.png">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi="{openapi}"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} – API</title>
  <link rel="icon" href="{assets}/favicon.png">
</head>
<body>
  <redoc spec-url="{openapi}"></redoc>
  <script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def add_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for ``app`` (create it with ``docs_url=None, redoc_url=None``)."""
    assets = resources.files("fastapi_offline").joinpath("static")
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    fields = {"title": app.title, "assets": ASSETS_URL, "openapi": app.openapi_url}

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return HTMLResponse(_SWAGGER_PAGE.format(**fields), headers=HEADERS)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC_PAGE.format(**fields), headers=HEADERS)
