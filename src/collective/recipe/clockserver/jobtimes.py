"""The jobs as the backend runs them: ``retries``, ``spread`` and ``timezone``.

``calendar`` gives each job its zone (its ``timezone=``, the part's, or
the machine's named when buildout runs), its stable spread offset, and on
the cron backend the crontab times with the offset carried into them;
the rules of DESIGN.md's "Calendar schedules" are checked here.  Pure,
Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

from . import jobs as joblib
from . import spread, zones
from .errors import ConfigError
from .schedule import expression


def calendar(s, options, jobs):
    """``retries``, ``spread`` and ``timezone``: the jobs as the backend runs
    them (their zone, their stable offset; on cron the offset carried into
    the times).  Sets ``s.retries``; returns the jobs."""
    backend = s.backend
    text = options.get("retries", "").strip()
    s.retries = joblib.retries(text, "retries") if text else 0
    part_spread = joblib.duration(options.get("spread", "0"), "spread", "spread")
    text = options.get("timezone", "").strip()
    part_zone = joblib.timezone(text, "timezone") if text else None
    locked = bool(options.get("lock", "").strip())
    # Every host of a cluster shares the namespace; one host its directory.
    owner = (
        (options.get("lock-namespace", "").strip() or s.part) if locked else s.directory
    )
    found = []
    for job in jobs:
        if job.times and expression(job.times) is None:
            raise ConfigError(
                "jobs",
                job.line,
                "times=@reboot is for crontab entries, not jobs",
                "Give the job a schedule, e.g. times='0 3 * * *' or a period.",
            )
        job_spread = part_spread if job.spread is None else job.spread
        if backend == "zserver":
            _zserver_job(job, job_spread, options)
            found.append(job)
            continue
        zone = job.timezone or part_zone
        offset = spread.spread_offset(job_spread, owner, s.part, job.name)
        if not job.times:
            zone, offset = None, offset % job.period
        else:
            zone = _job_zone(job, zone, backend, locked)
        if backend == "cron":
            try:
                times = spread.spread_cron(job, offset)
            except ValueError as e:
                raise ConfigError(
                    "jobs",
                    job.line,
                    "spread: %s" % e,
                    "Use a smaller spread (spread=0 for this job), or backend = "
                    "runner, which shifts any schedule.",
                )
            job = job.replace(times=times, timezone=None, offset=0)
        else:
            job = job.replace(timezone=zone, offset=offset)
        found.append(job)
    return found


def _zserver_job(job, spread, options):
    if job.period is None:
        raise ConfigError(
            "jobs",
            job.line,
            "the period '-' needs times=, which ZServer cannot "
            "run (it calls every PERIOD seconds)",
            "Give the job a period (3600, 1h) for ZServer, or use backend = runner.",
        )
    if spread:
        option, value = (
            ("jobs", job.line)
            if job.spread
            else ("spread", options.get("spread", "").strip())
        )
        raise ConfigError(
            option,
            value,
            "spread has no effect on zserver: ZServer fires on "
            "epoch multiples of the period only",
            "Remove spread, or use backend = runner (WSGI Zope).",
        )


def _job_zone(job, zone, backend, locked):
    """The zone a ``times=`` job is read in; None on cron (the machine's)."""
    if locked and zone is None:
        raise ConfigError(
            "jobs",
            job.line,
            "with lock, a job with times= must name its "
            "timezone: the hosts of a cluster may run in different zones",
            "Set timezone = Europe/Amsterdam (your zone) for the part, or "
            "timezone= on the job.",
        )
    machine = zones.machine_zone() if backend == "cron" or zone is None else zone
    if backend == "cron":
        if zone is not None and not (machine and zones.same_zone(zone, machine)):
            raise ConfigError(
                "jobs",
                job.line,
                "timezone %s differs from the machine's zone (%s): "
                "crontab lines run in the machine's zone"
                % (zone, machine or "unknown"),
                "Use backend = runner, which reads times= in any zone (cron "
                "daemons differ on CRON_TZ, and it would apply to other lines).",
            )
        return None
    if zone is None:
        zone = machine
        if zone is None:  # pragma: no cover - depends on the machine
            raise ConfigError(
                "timezone",
                None,
                "the machine's time zone cannot be named (TZ "
                "is a POSIX rule, or /etc/localtime is no link into a zoneinfo "
                "directory), and job %s has times=" % job.name,
                "Set timezone = Europe/Amsterdam (your zone) for the part.",
            )
    return zone
