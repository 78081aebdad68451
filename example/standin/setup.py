"""A stand-in for plone.recipe.zope2instance, for the example only."""

from setuptools import setup

setup(
    name="zope2instance-standin",
    version="1.0",
    py_modules=["zope2instance_standin"],
    entry_points={"zc.buildout": ["default = zope2instance_standin:Recipe"]},
)
