"""LOFTER (lofter.com): addresses, page and API parsers; the spider lives in spiders/lofter.py."""
