"""Swagger UI at /docs and ReDoc at /redoc, served with their assets from the service.

FastAPI's defaults load both from a CDN and show a blank page without internet. The assets
come from the pinned ``fastapi-offline`` wheel (its ``static`` folder: swagger-ui-bundle.js,
swagger-ui.css, redoc.standalone.js, favicon.png), so the pages reference no outside origin.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the assets are mounted.
ASSETS_PATH = "/docs-assets"
#: The folder of the assets inside the installed package.
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, title: str) -> None:
    """Mount the assets and add /docs and /redoc (hidden from the OpenAPI document)."""
    assert (ASSETS_DIR / "swagger-ui-bundle.js").is_file(), ASSETS_DIR
    assert (ASSETS_DIR / "redoc.standalone.js").is_file(), ASSETS_DIR
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
