"""The HTTP face of a collection: a REST API (with the SARI-compatible ``/query``), a search page
and a pseudo-SPARQL endpoint, as one ASGI app made by :func:`create_app`."""

from .app import create_app, run_server
from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "run_server"]
