"""Create the Plone site and the clock's Zope root user, once.

Run with the ZEO server up:  bin/client1 run create_site.py SECRET_CFG [SITE_ID]

The clock's user (the credentials section named by the clock part, read from
secret.cfg: a mode-0600 file) becomes a Manager in the Zope root's user
folder, not a Plone user: it then authenticates with HTTP Basic in every
site of the database. Running it again changes nothing but the password.
"""

import configparser
import sys

import transaction
from Testing.makerequest import makerequest
from zope.component.hooks import setSite

# bin/client run puts "<interpreter> -c <this script>" before the arguments.
args = sys.argv[sys.argv.index("-c") + 2 :] if "-c" in sys.argv else sys.argv[1:]
if not args:
    sys.exit("usage: bin/client1 run create_site.py SECRET_CFG [SITE_ID [SECTION]]")
secret_cfg = args[0]
site_id = args[1] if len(args) > 1 else "Plone"
section = args[2] if len(args) > 2 else "clock-credentials"

parser = configparser.ConfigParser(interpolation=None)
if not parser.read(secret_cfg):
    sys.exit("cannot read %s" % secret_cfg)
user = parser[section]["user"].strip()
password = parser[section]["password"].strip()

app = makerequest(app)  # noqa: F821 -- bin/client run provides app
users = app.acl_users
if user in users.getUserNames():
    users._doChangeUser(user, password, ["Manager"], [])
else:
    users._doAddUser(user, password, ["Manager"], [])

if site_id not in app.objectIds():
    from Products.CMFPlone.factory import addPloneSite

    addPloneSite(app, site_id, title="Clock demo", setup_content=False)
    print("Created the Plone site /%s" % site_id)
else:
    print("The Plone site /%s exists" % site_id)
setSite(None)
transaction.commit()
print("Zope root user %r (Manager) is set from %s [%s]" % (user, secret_cfg, section))
