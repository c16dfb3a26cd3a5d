# scrapyd-deploy builds the egg with "setup.py bdist_egg" and writes its own setup.py when there is
# none; this one keeps the metadata in pyproject.toml.
from setuptools import setup

setup()
