"""What a 200-job clock part adds to a bin/buildout run.

Builds a wheel of the package and installs it, as a user would, into a
new virtualenv with zc.buildout (an editable install would make buildout
hash the source tree on every run, which users never pay). Then runs that
bin/buildout in a temporary directory: the same buildout with and without
a clock part of 200 jobs, for each backend, as a first install and as a
re-run (the usual case), and prints the median wall time of several runs
and the overhead. Target: under 10 %.

Two baselines: a minimal buildout (one z3c.recipe.usercrontab part, so the
fixed cost of loading any recipe shows in full) and a Zope site (a WSGI
instance built by plone.recipe.zope2instance that consumes
${clock:zope-conf-additional}, as real sites do).

    .venv/bin/python benchmarks/bench_buildout.py [--runs N] [--jobs N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSTRAINTS = ["-c", os.path.join(TOP, "tests", "zope-constraints.txt")]
ZOPE = ["Zope", "plone.recipe.zope2instance"]

BASE = """
[buildout]
extends = secret.cfg
parts = {parts}
offline = true

{baseline}
"""

MINIMAL = """
[crontab-table]
# A baseline part, so both buildouts install something.
recipe = z3c.recipe.usercrontab
times = 0 3 * * *
command = echo baseline
readcrontab = cat {dir}/baseline.crontab
writecrontab = cat > {dir}/baseline.crontab
"""

INSTANCE = """
[instance]
recipe = plone.recipe.zope2instance
eggs = Zope
user = admin:admin
http-address = 127.0.0.1:18080
zodb-temporary-storage = off
zope-conf-additional = {additional}
"""

CLOCK = """
[clock]
recipe = collective.recipe.clockserver
backend = {backend}
address = 8080
credentials = clock-credentials
crontab-file = var/crontab
jobs =
{jobs}
"""

SECRET = "[clock-credentials]\nuser = zopeuser\npassword = secret\n"


def jobs(count):
    # Periods that cron can express, so every backend takes the same jobs.
    periods = ["5m", "15m", "1h", "6h", "1d"]
    return "\n".join(
        "    /site%d/@@update %s name=job-%d" % (i, periods[i % len(periods)], i)
        for i in range(count)
    )


def install_from_wheel(root, name, extra=()):
    """A new virtualenv with the package from a wheel; returns its buildout.

    The minimal baseline gets a virtualenv of its own without Zope: the
    more distributions a virtualenv holds, the longer buildout takes to
    scan them, which would hide the recipe's own cost.
    """
    dist = os.path.join(root, "dist")
    venv = os.path.join(root, name)
    quiet = {"check": True, "stdout": subprocess.DEVNULL}
    if not os.path.isdir(dist):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                dist,
                TOP,
            ],
            **quiet,
        )
    subprocess.run([sys.executable, "-m", "venv", venv], **quiet)
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q"]
    # The wheel with the dependencies it declares, as a user installs it.
    wheel = os.path.join(dist, os.listdir(dist)[0])
    subprocess.run(pip + CONSTRAINTS + [wheel] + list(extra), **quiet)
    return os.path.join(venv, "bin", "buildout")


def timed_runs(buildout, directory, runs):
    """Median seconds of a first install and of a re-run."""
    installs, reruns = [], []
    for _ in range(runs):
        for name in (".installed.cfg", "parts", "bin", "var"):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        for bucket in (installs, reruns):
            start = time.perf_counter()
            subprocess.run(
                [buildout, "-q"], cwd=directory, check=True, stdout=subprocess.DEVNULL
            )
            bucket.append(time.perf_counter() - start)
    return statistics.median(installs), statistics.median(reruns)


def site(root, name, baseline, backend=None, count=200):
    directory = os.path.join(root, name)
    os.makedirs(directory)
    if baseline == "zope":
        part = "instance"
        text = INSTANCE.format(
            additional="${clock:zope-conf-additional}" if backend else ""
        )
    else:
        part = "crontab-table"
        text = MINIMAL.format(dir=directory)
    parts = part + (" clock" if backend else "")
    text = BASE.format(parts=parts, baseline=text)
    if backend:
        text += CLOCK.format(backend=backend, jobs=jobs(count))
    with open(os.path.join(directory, "buildout.cfg"), "w") as f:
        f.write(text)
    open(os.path.join(directory, "baseline.crontab"), "w").close()
    with open(os.path.join(directory, "secret.cfg"), "w") as f:
        f.write(SECRET)
    os.chmod(os.path.join(directory, "secret.cfg"), 0o600)
    return directory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--baselines", nargs="+", default=["minimal", "zope"])
    parser.add_argument("--backends", nargs="+", default=["zserver", "runner", "cron"])
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-buildout-")
    try:
        print(
            "bin/buildout, median of %d runs, %d jobs "
            "(first install / re-run)" % (args.runs, args.jobs)
        )
        for baseline in args.baselines:
            buildout = install_from_wheel(
                root, "venv-" + baseline, ZOPE if baseline == "zope" else ()
            )
            base = timed_runs(buildout, site(root, baseline, baseline), args.runs)
            print(
                "%-30s %8.3f s %8.3f s" % ("%s, without clock part" % baseline, *base),
                flush=True,
            )
            for backend in args.backends:
                directory = site(
                    root, baseline + "-" + backend, baseline, backend, args.jobs
                )
                measured = timed_runs(buildout, directory, args.runs)
                overhead = [
                    100.0 * (m - b) / b for m, b in zip(measured, base, strict=True)
                ]
                print(
                    "%-30s %8.3f s %8.3f s   overhead %+5.1f %% / %+5.1f %%"
                    % (
                        "%s, with clock (%s)" % (baseline, backend),
                        *measured,
                        *overhead,
                    ),
                    flush=True,
                )
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
