"""Spiders of this project: `urlfile` (a file of image URLs) and, later, `lofter`."""
