"""Every bad input: a clear ``Error:`` from bin/buildout, nothing written."""

import pytest

from buildouts import FOREIGN, SECRET, clock_part

# (id, part options, secret.cfg, fragments the message must contain)
CASES = [
    ("relative-method", "jobs = site/update 1h\n", SECRET,
     ["[clock] jobs:", "'site/update' is not a path from the Zope root",
      "site/update 1h", "Start the method with '/', e.g. /site/update"]),
    ("missing-period", "jobs = /site/update\n", SECRET,
     ["[clock] jobs:", "a job needs a method and a period", "/site/update",
      "METHOD PERIOD"]),
    ("period-0", "jobs = /site/update 0\n", SECRET,
     ["[clock] jobs:", "bad period '0'", "/site/update 0", "90s, 15m"]),
    ("period-negative", "jobs = /site/update -5\n", SECRET,
     ["[clock] jobs:", "bad period '-5'", "/site/update -5", "1h30m"]),
    ("period-abc", "jobs = /site/update abc\n", SECRET,
     ["[clock] jobs:", "bad period 'abc'", "seconds (3600)"]),
    ("period-5x", "jobs = /site/update 5x\n", SECRET,
     ["[clock] jobs:", "bad period '5x'", "units s m h d w"]),
    ("period-unit-twice", "jobs = /site/update 1h1h\n", SECRET,
     ["[clock] jobs:", "bad period '1h1h'"]),
    ("unknown-key", "jobs = /site/update 1h color=red\n", SECRET,
     ["[clock] jobs:", "unknown job key 'color'", "/site/update 1h color=red",
      "Known keys: name=, host=, credentials=, times="]),
    ("bare-word", "jobs = /site/update 1h extra\n", SECRET,
     ["[clock] jobs:", "unknown job key 'extra'"]),
    ("unclosed-quote", "jobs = /site/update 1h times='0 1 * *\n", SECRET,
     ["[clock] jobs:", "cannot split the line", "Close the quote"]),
    ("method-space", "jobs = '/site/my view' 1h\n", SECRET,
     ["[clock] jobs:", "contains white space", "%20"]),
    ("duplicate-name",
     "jobs =\n    /a 1h name=update\n    /b 1h name=update\n", SECRET,
     ["[clock] jobs:", "duplicate job name 'update'", "/b 1h name=update",
      "also used by: /a 1h name=update", "Give each job its own name="]),
    ("bad-job-host", "jobs = /a 1h host=http://www.example.org/\n", SECRET,
     ["[clock] jobs:", "'http://www.example.org/' is not a host name",
      "/a 1h host=http://www.example.org/", "www.example.org:8080"]),
    ("bad-part-host", "host = www example org\njobs = /a 1h\n", SECRET,
     ["[clock] host:", "'www example org' is not a host name"]),
    ("bad-name", "jobs = /a 1h name=-x\n", SECRET,
     ["[clock] jobs:", "the job name '-x' is not usable"]),
    ("user-without-password",
     "credentials = clock-credentials\njobs = /a 1h\n",
     "[clock-credentials]\nuser = zopeuser\n",
     ["[clock] credentials:", "[clock-credentials] has a user but no password",
      "Add 'password = ...' to [clock-credentials]"]),
    ("password-without-user",
     "credentials = clock-credentials\njobs = /a 1h\n",
     "[clock-credentials]\npassword = secret\n",
     ["[clock] credentials:", "[clock-credentials] has a password but no user",
      "Add 'user = ...' to [clock-credentials]"]),
    ("missing-credentials-section",
     "credentials = clock-credentials\njobs = /a 1h\n", "",
     ["[clock] credentials:",
      "the credentials section [clock-credentials] is not defined",
      "Create it in secret.cfg (chmod 600, never committed)",
      "    [clock-credentials]\n    user = zopeuser\n"
      "    password = <the password>"]),
    ("missing-job-credentials-section",
     "jobs = /a 1h credentials=nowhere\n", SECRET,
     ["[clock] jobs:", "the credentials section [nowhere] is not defined",
      "/a 1h credentials=nowhere", "    [nowhere]\n    user = zopeuser"]),
    ("user-with-colon", "credentials = clock-credentials\njobs = /a 1h\n",
     "[clock-credentials]\nuser = zope:user\npassword = secret\n",
     ["[clock] credentials:", "contains ':'"]),
    ("zserver-long-credentials",
     "credentials = clock-credentials\njobs = /a 1h\n",
     "[clock-credentials]\nuser = zopeuser\npassword = %s\n" % ("x" * 50),
     ["[clock] credentials:",
      "user:password from [clock-credentials] is 59 bytes",
      "above 57 bytes", "runner backend"]),
    ("unknown-backend", "backend = celery\njobs = /a 1h\n", SECRET,
     ["[clock] backend:", "unknown backend 'celery'",
      "Use zserver", "runner", "cron"]),
    ("runner-without-address", "backend = runner\njobs = /a 1h\n", SECRET,
     ["[clock] address:", "the runner backend needs the address",
      "address = ${instance:http-address}"]),
    ("cron-without-address", "backend = cron\njobs = /a 1h\n", SECRET,
     ["[clock] address:", "the cron backend needs the address"]),
    ("bad-address", "backend = runner\naddress = localhost:http\n"
     "jobs = /a 1h\n", SECRET,
     ["[clock] address:", "'localhost:http' is not PORT or HOST:PORT",
      "HOST:PORT"]),
    ("address-with-password", "backend = runner\n"
     "address = admin:secret@localhost:8080\njobs = /a 1h\n", SECRET,
     ["[clock] address:", "the address holds a user name or password",
      "credentials section (secret.cfg)"]),
    ("bad-address-on-zserver", "address = localhost:http\njobs = /a 1h\n",
     SECRET, ["[clock] address:", "is not PORT or HOST:PORT"]),
    ("times-checked-on-zserver", "jobs = /a 1h times='99 * * * *'\n",
     SECRET, ["[clock] jobs:", "minute 99 is out of range 0-59",
              "/a 1h times='99 * * * *'"]),
    ("unused-part-credentials",
     "credentials = nosuch\njobs = /a 1h credentials=clock-credentials\n",
     SECRET, ["[clock] credentials:",
              "the credentials section [nosuch] is not defined"]),
    ("crontab-file-directory", "crontab-file = secret.cfg/crontab\n"
     "zeopack = 0 1 * * 6\n", SECRET,
     ["[clock] crontab-file:", "secret.cfg/crontab cannot be used: Not a "
      "directory", "Set crontab-file to a regular file"]),
    ("huge-period", "jobs = /a 1000000000w\n", SECRET,
     ["[clock] jobs:", "bad period '1000000000w'", "at most"]),
    ("bad-timeout", "backend = runner\naddress = 8080\ntimeout = soon\n"
     "jobs = /a 1h\n", SECRET,
     ["[clock] timeout:", "bad timeout 'soon'", "timeout = 300"]),
    ("concurrency-0", "backend = runner\naddress = 8080\nconcurrency = 0\n"
     "jobs = /a 1h\n", SECRET,
     ["[clock] concurrency:", "bad concurrency '0'", "concurrency = 4"]),
    ("concurrency-negative", "concurrency = -1\njobs = /a 1h\n", SECRET,
     ["[clock] concurrency:", "bad concurrency '-1'", "a whole number"]),
    ("concurrency-word", "backend = runner\naddress = 8080\n"
     "concurrency = many\njobs = /a 1h\n", SECRET,
     ["[clock] concurrency:", "bad concurrency 'many'"]),
    ("concurrency-float", "backend = runner\naddress = 8080\n"
     "concurrency = 2.5\njobs = /a 1h\n", SECRET,
     ["[clock] concurrency:", "bad concurrency '2.5'"]),
    ("concurrency-empty", "backend = runner\naddress = 8080\n"
     "concurrency =\njobs = /a 1h\n", SECRET,
     ["[clock] concurrency:", "bad concurrency ''"]),
    ("bad-boolean", "inline = maybe\njobs = /a 1h\n", SECRET,
     ["[clock] inline:", "not a boolean", "true or false"]),
    ("zeopack-hour-25", "zeopack = 0 25 * * 6\n", SECRET,
     ["[clock] zeopack:", "0 25 * * 6", "25", "0-23"]),
    ("zeopack-four-fields", "zeopack = 0 1 * *\n", SECRET,
     ["[clock] zeopack:", "0 1 * *"]),
    ("crontab-bad-line", "crontab =\n    0 3 * * * /backup.sh\n"
     "    @fortnightly /other.sh\n", SECRET,
     ["[clock] crontab:", "@fortnightly /other.sh"]),
    ("crontab-no-command", "crontab = 0 3 * * *\n", SECRET,
     ["[clock] crontab:", "0 3 * * *"]),
    ("cron-period-not-cron", "backend = cron\naddress = 8080\n"
     "jobs = /site/update 7m\n", SECRET,
     ["[clock] jobs:", "a period of 420 s cannot be written as a cron "
      "schedule", "/site/update 7m", "times='0 3 * * *'",
      "backend = runner"]),
    ("cron-bad-times", "backend = cron\naddress = 8080\n"
     "jobs = /site/update 1h times='61 * * * *'\n", SECRET,
     ["[clock] jobs:", "61", "0-59"]),
]


@pytest.mark.parametrize(
    "options, secret, fragments", [c[1:] for c in CASES],
    ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(buildout, fake_crontab, options, secret,
                                    fragments):
    fake_crontab.set(FOREIGN)
    buildout.write("secret.cfg", secret, mode=0o600)
    buildout.write("buildout.cfg", clock_part(options))
    result = buildout.run()
    assert result.returncode != 0
    assert "Error: " in result.output
    assert "Traceback" not in result.output
    assert "An internal error occurred" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    # Nothing written: no part files, not recorded, crontab untouched.
    assert not buildout.exists("parts", "clock")
    assert not buildout.exists("bin", "clock")
    assert "[clock]" not in buildout.installed()
    assert fake_crontab.text() == FOREIGN
    assert "-" not in fake_crontab.calls()


def test_an_error_keeps_the_previous_installation(buildout):
    """A mistake in a re-run leaves the installed part as it was."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write("buildout.cfg", clock_part(
        "credentials = clock-credentials\njobs = /a 1h\n"))
    assert buildout.run().ok
    before = buildout.read("parts", "clock", "clock-server.conf")
    buildout.write("buildout.cfg", clock_part(
        "credentials = clock-credentials\njobs = /a 1x\n"))
    result = buildout.run()
    assert result.returncode != 0
    assert "bad period '1x'" in result.output
    assert buildout.read("parts", "clock", "clock-server.conf") == before
