"""A WSGI filter for the benchmark's Zope: stamps each request, fakes job work.

Inserted first in the instance's pipeline (``use = call:bench_stamp:filter``
in wsgi.ini), so it runs in one of waitress's worker threads when Zope
takes the request up: the time it records is when the call really reaches
Zope, after any wait in waitress's queue.

- Every request appends ``<epoch time> <path?query>`` to the file named by
  $BENCH_STAMP_FILE (one os.write per line).
- ``/__bench_job__/...?cpu=MS&sleep=MS`` stands for a clock job's work: it
  holds the worker thread for ``cpu`` ms of Python computation (holding the
  GIL, as ZODB and catalog work does) and ``sleep`` ms of waiting (as for a
  database or a remote feed), then answers 200.  Anything else goes on to
  Zope.
"""

import os
import time
from urllib.parse import parse_qs


def filter(global_conf, **local_conf):  # noqa: A001 - PasteDeploy's call: protocol
    fd = os.open(
        os.environ["BENCH_STAMP_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )

    def make(app):
        def stamped(environ, start_response):
            path = environ.get("PATH_INFO", "")
            query = environ.get("QUERY_STRING", "")
            os.write(fd, f"{time.time():.6f} {path}?{query}\n".encode())
            if not path.startswith("/__bench_job__/"):
                return app(environ, start_response)
            params = parse_qs(query)
            spin = float(params.get("cpu", ["0"])[0]) / 1000
            end = time.thread_time() + spin
            while time.thread_time() < end:
                pass
            time.sleep(float(params.get("sleep", ["0"])[0]) / 1000)
            start_response(
                "200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")]
            )
            return [b"ok"]

        return stamped

    return make
