"""The clock's view of the live example: a view that writes, done right.

A GET that writes is what plone.protect's automatic CSRF protection stops:
the clock sends no CSRF token, so without the opt-out below Plone aborts the
transaction (see "Writing a view for the clock" in docs/plone.rst).
"""

from plone.protect.interfaces import IDisableCSRFProtection
from Products.Five.browser import BrowserView
from zope.interface import alsoProvides


class ClockDemo(BrowserView):
    """Counts its calls in the site (a write), answers with the count."""

    def __call__(self):
        # This call has no CSRF token and needs none: it is the clock's.
        alsoProvides(self.request, IDisableCSRFProtection)
        site = self.context
        site._clock_demo_calls = getattr(site, "_clock_demo_calls", 0) + 1
        self.request.response.setHeader("Content-Type", "text/plain; charset=utf-8")
        return "call %d of %s at %s\n" % (
            site._clock_demo_calls,
            self.request.get("job", "?"),
            site.absolute_url(),
        )
