"""The spread: a stable offset per job, and cron times shifted by it.

Pure, Python 2.7 and 3.  The runner adds the offset to every tick
(schedule.Schedule's ``offset``); the cron backend writes it into the
crontab line's minute and hour fields.
"""

from __future__ import absolute_import, division, print_function

from .schedule import WEEK, cron_times, expression


def spread_offset(spread, *names):
    """A stable offset in ``[0, spread)`` seconds for the job that ``names``
    name (lock namespace or buildout directory, part, job): the same on
    every host and after every reinstall (a hash, not a random number)."""
    if not spread:
        return 0
    import hashlib

    key = "\0".join(names).encode("utf-8")
    return int(hashlib.sha256(key).hexdigest()[:16], 16) % int(spread)


def shift_times(times, minutes):
    """Cron ``times`` shifted ``minutes`` later, as five fields.

    The shift is carried into the minute and hour fields; ValueError with
    the reason when the shifted form would change the day-of-month, month
    or day-of-week fields (a time pushed past midnight on a schedule that
    names days), or cannot be one cron line."""
    fields = expression(times)
    if fields is None or not minutes:
        return times
    minute, hour, day, month, weekday = fields.split()
    every_day = (day, month, weekday) == ("*", "*", "*")
    pairs = set()
    for h in _values(hour, 0, 23):
        for m in _values(minute, 0, 59):
            total = h * 60 + m + minutes
            if total >= 1440:
                if not every_day:
                    raise ValueError(
                        "shifted by %d minutes, %02d:%02d moves to the next day, "
                        "which would change its day fields" % (minutes, h, m)
                    )
                total %= 1440
            pairs.add(divmod(total, 60))
    hours = sorted({h for h, _ in pairs})
    mins = sorted({m for _, m in pairs})
    if len(hours) * len(mins) != len(pairs):
        raise ValueError(
            "shifted by %d minutes, its times cannot be written as "
            "one cron line" % minutes
        )
    return " ".join([_field(mins, 59), _field(hours, 23), day, month, weekday])


def spread_cron(job, offset):
    """The cron times of ``job`` for the cron backend, shifted by ``offset``
    seconds rounded down to whole minutes (a weekly period carries whole
    days into the day-of-week field); ValueError with the reason."""
    minutes = int(offset) // 60
    if job.times:
        return shift_times(job.times, minutes)
    times = cron_times(job)
    if job.period == WEEK and minutes >= 1440:
        days, minutes = divmod(minutes, 1440)
        times = "0 0 * * %d" % days
    return shift_times(times, minutes)


def _values(field, low, high):
    """The numbers a minute or hour field (as checked) stands for."""
    found = set()
    for item in field.split(","):
        body, _, step = item.partition("/")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first, last = [int(x) for x in body.split("-", 1)]
        else:
            first = last = int(body)
            if step:
                last = high
        found.update(range(first, last + 1, int(step or 1)))
    return sorted(found)


def _field(numbers, high):
    if numbers == list(range(0, high + 1)):
        return "*"
    if len(numbers) > 2:
        step = numbers[1] - numbers[0]
        if numbers == list(range(numbers[0], high + 1, step)):
            return "%d-%d/%d" % (numbers[0], high, step)
    return ",".join(str(n) for n in numbers)
