"""Dead-man's-switch pings in healthchecks.io's protocol.

``URL/start`` when a run starts, ``URL`` when it succeeded, ``URL/fail``
when it failed; a skipped run pings nothing.  A ping that fails is logged
(without its URL: anyone holding it could ping) and never fails the run.
"""

import http.client
import urllib.error
import urllib.request

TIMEOUT = 10  # seconds
USER_AGENT = "collective.recipe.clockserver"


def url_for(base, event):
    """``event`` is ``start``, ``success`` or ``fail``."""
    base = base.rstrip("/")
    return base if event == "success" else f"{base}/{event}"


def ping(config, name, event, log):
    """Send one ping for ``name`` if it has a URL; never raises."""
    base = config.pings.get(name)
    if not base:
        return False
    request = urllib.request.Request(url_for(base, event),
                                     headers={"User-Agent": USER_AGENT})
    try:
        opener = urllib.request.build_opener(_NoRedirect)
        with opener.open(request, timeout=TIMEOUT) as response:
            response.read(4096)
        return True
    except urllib.error.HTTPError as exc:
        problem = f"answered {exc.code} {exc.reason}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        problem = _text(exc)
    log(f"{name}: the {event} ping failed ({problem}); the run is not affected")
    return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _text(exc):
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {TIMEOUT} s"
    reason = getattr(exc, "reason", None)
    if reason is not None:
        exc = reason
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return text
