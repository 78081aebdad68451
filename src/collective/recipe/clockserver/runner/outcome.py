"""What one call gave (Outcome: an HTTP answer, or an error text) and
what it means for the user: one line with, for a failure, what to check
(credentials, a login redirect, Plone's CSRF protection, a missing
method).  Every text from the server is escaped before it is shown."""

from .text import escape

LOGIN_MARKERS = ("login", "acl_users")  # also matches require_login
CSRF_CONFIRM_MARKER = "@@confirm-action"  # plone.protect's redirect


class Outcome:
    """What one call gave: an HTTP answer, or an error text (or both, when
    the answer was cut off).  ``retryable``: it failed before Zope could
    have run the method (refused, reset before the request was sent, name
    not resolved) or Zope answered 5xx or 429; ``retry_after``: the seconds
    its Retry-After header asked for.  ``attempts``: after retries, each
    attempt's one-line reason (retry.py)."""

    __slots__ = (
        "duration",
        "status",
        "reason",
        "location",
        "error",
        "retryable",
        "retry_after",
        "attempts",
    )

    def __init__(
        self,
        duration,
        status=None,
        reason="",
        location=None,
        error=None,
        retryable=False,
        retry_after=None,
        attempts=(),
    ):
        self.duration = duration
        self.status = status
        self.reason = reason
        self.location = location
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = tuple(attempts)

    @property
    def ok(self):
        return (
            self.error is None and self.status is not None and 200 <= self.status < 300
        )

    def __eq__(self, other):
        return isinstance(other, Outcome) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Outcome({fields})"


def describe(outcome, job):
    """One line saying what happened and, for failures, what to check."""
    if outcome.error:
        return escape(outcome.error)
    status = outcome.status
    text = escape(f"{status} {outcome.reason}".rstrip())
    if 200 <= status < 300:
        return text
    if status == 401:
        if job.authenticated:
            hint = (
                f"Zope refused the credentials of user {job.user!r}: "
                "check the credentials section in secret.cfg"
            )
        else:
            hint = (
                "the method needs a login and this job calls it anonymously: "
                "set credentials (a section in secret.cfg) for the part or the job"
            )
    elif 300 <= status < 400:
        location = escape(outcome.location or "(no Location header)")
        # Checked first: the confirm URL's query carries the original URL,
        # which may hold a login marker.
        if CSRF_CONFIRM_MARKER in location.split("?", 1)[0]:
            hint = (
                "Plone's CSRF protection (plone.protect) aborted what this GET "
                "wrote and redirected to @@confirm-action: the view must call "
                "alsoProvides(request, IDisableCSRFProtection) (from "
                "plone.protect.interfaces) before it writes"
            )
        elif any(marker in location.lower() for marker in LOGIN_MARKERS):
            who = f"user {job.user!r}" if job.authenticated else "anonymous"
            hint = (
                f"redirected to a login form ({location}): the credentials are "
                f"wrong or missing ({who}); check the credentials section in secret.cfg"
            )
        else:
            hint = (
                f"redirected to {location}; redirects are not followed: "
                "point the job's method, host or the address at the final URL"
            )
    elif status == 403:
        who = f"user {job.user!r}" if job.authenticated else "Anonymous"
        hint = f"{who} lacks the permission to call {escape(job.method)}"
    elif status == 404:
        hint = f"nothing at {escape(job.method)} (check the method and the host)"
    else:
        return text
    return f"{text}: {hint}"
