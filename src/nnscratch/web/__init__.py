"""The web app of ``nnscratch serve``: draw a digit and see the network think.

:func:`create_app` builds a FastAPI application serving a JSON API (``/api/...``, schema at
``/openapi.json``) and one static page (``web/static/``: plain HTML, CSS and JavaScript, no build step,
nothing fetched from the internet). Needs the ``web`` extra: ``pip install "nnscratch[web]"``.
"""

from nnscratch.web.app import create_app

__all__ = ["create_app"]
