"""What the benchmarks share (bench_runner.py, bench_records.py): measuring
a process (CPU, peak RSS), the local ``http.server`` with the default
listen backlog that stamps each call's arrival, the APScheduler 3 child
doing the runner's work, a scheduler's row of figures from the stamps,
and the timing of a command's start-up.  Linux only (reads /proc).

Child modes (``--child-http-server``, ``--child-apscheduler``) are this
module run as a script by the benchmarks.
"""

import compileall
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PYTHON = sys.executable


# -- measuring processes ----------------------------------------------------------


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime + stime


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sleep_until(moment):
    while True:
        left = moment - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


# -- child: a local http.server with the default backlog ------------------------------


def child_http_server(stamp_file, port_file):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    fd = os.open(stamp_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            os.write(fd, f"{time.time():.6f} {self.path}\n".encode())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):  # request_queue_size: the default 5
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass

    server = Server(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    signal.signal(
        signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start()
    )
    server.serve_forever()


# -- child: APScheduler 3 doing the runner's work ---------------------------------------


def child_apscheduler(config_path, workers):
    import http.client
    import logging
    from datetime import datetime, timezone

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.basicConfig(level=logging.ERROR)  # its misfire warnings are not measured
    with open(config_path) as f:
        config = json.load(f)
    host, port = config["address"].split("://")[1].rsplit(":", 1)

    def get(path):
        conn = http.client.HTTPConnection(host, int(port), timeout=config["timeout"])
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
        except OSError:
            pass
        finally:
            conn.close()

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(int(workers))}
    )
    start = datetime.fromtimestamp(math.ceil(time.time()) + 1, timezone.utc)
    for job in config["jobs"]:
        scheduler.add_job(
            get,
            "interval",
            seconds=job["period"],
            start_date=start,
            args=(job["method"],),
            id=job["name"],
        )
    scheduler.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    done.wait()
    scheduler.shutdown(wait=False)


# -- the local server, configs, rows ----------------------------------------------------


class Stamps:
    """A file of ``<time> <path>`` lines that a server appends to."""

    def __init__(self, path):
        self.path = path
        open(path, "w").close()

    def read(self, prefix, start, end):
        found = []
        with open(self.path) as f:
            for line in f:
                stamp, _, path = line.rstrip("\n").partition(" ")
                if path.startswith(prefix) and start <= float(stamp) < end:
                    found.append((float(stamp), path))
        return found


class HttpServer:
    @staticmethod
    def prefix(tag):
        return f"/{tag}/"

    def __init__(self, workdir):
        self.stamps = Stamps(os.path.join(workdir, "http-stamps"))
        port_file = os.path.join(workdir, "http-port")
        self.proc = subprocess.Popen(
            [PYTHON, __file__, "--child-http-server", self.stamps.path, port_file]
        )
        self.pid = self.proc.pid
        while not os.path.exists(port_file):
            time.sleep(0.05)
        with open(port_file) as f:
            self.address = "http://127.0.0.1:" + f.read()

    def stop(self):
        stop(self.proc)


BASE = {}  # the recipe's own clock.json (state directory...): kept in every config


def every_second(jobs, prefix):
    """``jobs`` jobs called every second, ``job0`` at ``PREFIX0`` and so on."""
    return [
        {"name": f"job{i}", "method": f"{prefix}{i}", "period": 1} for i in range(jobs)
    ]


def write_runner_config(path, address, jobs, concurrency, timeout=30):
    with open(path, "w") as f:
        json.dump(
            dict(
                BASE,
                part="bench",
                address=address,
                timeout=timeout,
                concurrency=concurrency,
                jobs=[dict(job, host=None, user=None, password=None) for job in jobs],
            ),
            f,
        )
    os.chmod(path, 0o600)


def scheduler_row(label, command, target, prefix, jobs, seconds):
    """Run a scheduler process for a window; figures from the server's stamps."""
    stamps = target.stamps
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3.2)  # start-up and the first ticks are not measured
        start, cpu_start = time.time(), cpu_seconds(proc.pid)
        server_start = cpu_seconds(target.pid)
        time.sleep(seconds)
        end, cpu_end = time.time(), cpu_seconds(proc.pid)
        server_cpu = cpu_seconds(target.pid) - server_start
        rss = peak_rss_mb(proc.pid)
    finally:
        stop(proc)
    time.sleep(1.5)  # calls in flight land (counted only when due in the window)
    due_seconds = range(math.ceil(start), math.floor(end))
    arrivals = stamps.read(prefix, start - 1, end + 30)
    late, delivered = [], set()
    for stamp, path in arrivals:
        second = math.floor(stamp)
        if second in due_seconds:
            late.append((stamp - second) * 1000)
            delivered.add((second, path))
    return {
        "label": label,
        "late": late,
        "delivered": len(delivered),
        "expected": jobs * len(due_seconds),
        "cpu": cpu_end - cpu_start,
        "seconds": end - start,
        "rss": rss,
        "server_cpu": server_cpu,
    }


def merge(rows):
    """One row from the rounds of one scheduler: pooled calls, summed time."""
    first = rows[0]
    cpu = sum(row["cpu"] for row in rows)
    delivered = sum(row["delivered"] for row in rows)
    return {
        "label": first["label"],
        "late": [ms for row in rows for ms in row["late"]],
        "delivered": delivered,
        "expected": sum(row["expected"] for row in rows),
        "cpu_pct": 100 * cpu / sum(row["seconds"] for row in rows),
        "cpu_ms_per_call": 1000 * cpu / max(1, delivered),
        "rss": max(row["rss"] for row in rows),
        "server_ms_per_call": 1000
        * sum(row["server_cpu"] for row in rows)
        / max(1, delivered),
    }


# -- start-up ---------------------------------------------------------------------------


def compile_package():
    """Byte-compile the package, as an install does: with
    PYTHONDONTWRITEBYTECODE set (some shells and CI set it) an editable
    install would compile every module at each start."""
    import collective.recipe.clockserver as package

    compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)


def timed(command, runs=40):
    walls, cpus = [], []
    for _ in range(runs):
        began = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
        assert proc.returncode == 0, (command, proc.returncode)
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    {
        "--child-http-server": child_http_server,
        "--child-apscheduler": child_apscheduler,
    }[sys.argv[1]](*sys.argv[2:])
