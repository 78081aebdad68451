"""bin/instance run add_clock_user.py: the clock's user, from secret.cfg."""

import configparser

import transaction

secret = configparser.ConfigParser(interpolation=None)
secret.read("secret.cfg")
user = secret["clock-credentials"]["user"]
password = secret["clock-credentials"]["password"]
users = app.acl_users  # noqa: F821 (bin/instance run provides app, the Zope root)
if user in users.getUserNames():
    users._doChangeUser(user, password, ["Manager"], [])
else:
    users._doAddUser(user, password, ["Manager"], [])
transaction.commit()
