"""Views the Plone end-to-end tests call (tests/test_plone_clock.py).

Put on the instance's path with ``extra-paths`` and registered with
``zcml-additional`` (``VIEWS_ZCML`` in tests/plonesite.py). Each write view
records, per ``?job=``, how often it was called, its ``absolute_url()``
(which shows the Host header and virtual hosting) and the authenticated
user; ``@@clock-state`` reads it back from the database as JSON.
"""

import json

from AccessControl import getSecurityManager
from persistent.mapping import PersistentMapping
from plone.protect.interfaces import IDisableCSRFProtection
from Products.Five.browser import BrowserView
from zope.interface import alsoProvides


class Write(BrowserView):
    content_type = "text/plain; charset=utf-8"

    def record(self):
        site = self.context
        state = getattr(site, "_clock_test_state", None)
        if state is None:
            state = site._clock_test_state = PersistentMapping()
        job = self.request.get("job", "?")
        entry = dict(state.get(job, {"writes": 0}))
        entry["writes"] += 1
        entry["url"] = site.absolute_url()
        entry["user"] = getSecurityManager().getUser().getUserName()
        state[job] = entry
        return entry

    def __call__(self):
        entry = self.record()
        self.request.response.setHeader("Content-Type", self.content_type)
        return self.render(entry)

    def render(self, entry):
        return "%(writes)d writes, %(url)s, %(user)s\n" % entry


class WriteOptedOut(Write):
    """Writes, answers plain text, opts out of CSRF protection: kept."""

    def __call__(self):
        alsoProvides(self.request, IDisableCSRFProtection)
        return super().__call__()


class WriteHTML(Write):
    """Writes, answers HTML, no opt-out: plone.protect redirects."""

    content_type = "text/html; charset=utf-8"

    def render(self, entry):
        return "<html><body><p>%s</p></body></html>" % super().render(entry)


class WriteText(Write):
    """Writes, answers plain text, no opt-out: the write is thrown away."""


class State(BrowserView):
    """What the write views recorded, as JSON (reads only)."""

    def __call__(self):
        state = getattr(self.context, "_clock_test_state", None) or {}
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps({job: dict(entry) for job, entry in state.items()})
