"""zc.buildout recipe for periodic Zope jobs."""
