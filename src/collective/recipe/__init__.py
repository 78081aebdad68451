# A namespace package on Python 2.7 and 3 (pkgutil style).
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
