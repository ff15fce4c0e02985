"""The web configuration panel (`/config`), served by `meshctl serve` beside the API.

Server-rendered Jinja2 pages with a little JavaScript and CSS from the package; every read
and write the panel makes is a call to the REST API, like any other client's. The forms are
built from the registry models (`fields.py`), so they ask for what validation checks.
"""

from reconciler.web.pages import add_panel

__all__ = ["add_panel"]
