from setuptools import find_namespace_packages, setup

with open("README.rst") as f:
    readme = f.read()
with open("CHANGES.rst") as f:
    changes = f.read()

setup(
    name="collective.recipe.clockserver",
    version="1.0.0.dev0",
    description=(
        "zc.buildout recipe: periodic Zope jobs as <clock-server> blocks, "
        "crontab entries or a WSGI clock, with credentials kept in secret.cfg"
    ),
    long_description=readme + "\n\n" + changes,
    long_description_content_type="text/x-rst",
    classifiers=[
        "Framework :: Buildout",
        "Framework :: Buildout :: Recipe",
        "Framework :: Zope",
        "Framework :: Plone",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
    ],
    keywords="buildout recipe zope plone clock-server cron zeopack",
    license="ZPL-2.1",
    python_requires=">=3.10",
    package_dir={"": "src"},
    packages=find_namespace_packages("src", include=["collective.*"]),
    package_data={"collective.recipe.clockserver": ["*.xml"]},
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        "setuptools",
        "zc.buildout>=3",
        "zc.recipe.egg>=2.0.7",
        "z3c.recipe.usercrontab>=1.5",
        "ZConfig>=3.5",
        # Cron expressions for status and ticks; 2.8 needs Python 3.11,
        # pip picks 2.7 on Python 3.10.
        "cronsim>=2.6",
    ],
    extras_require={
        "test": ["pytest", "hypothesis", "prometheus_client"],
        # The lock services' clients (lock = postgresql:// redis:// zeo://);
        # the recipe adds the one that lock names to bin/<part>.
        "postgresql": ["psycopg[binary]>=3.1"],
        "redis": ["redis>=4.2"],
        "zeo": ["ZEO>=5.2"],
    },
    entry_points={
        "zc.buildout": [
            "default = collective.recipe.clockserver.recipe:Recipe",
        ],
        "zc.buildout.uninstall": [
            "default = collective.recipe.clockserver.recipe:uninstall",
        ],
    },
)
