"""imagescraper: download image collections byte for byte, validated, into a safe store."""

__version__ = "0.1.0"
