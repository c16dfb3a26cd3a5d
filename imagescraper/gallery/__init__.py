"""The static gallery: pages and WebP thumbnails built from the image store (``scrapy gallery``).

``source`` reads the manifest, ``thumbs`` makes thumbnails, ``state`` remembers the last build,
``model`` lays out folders and links, ``render`` fills the templates, ``build`` ties them
together, and ``serve`` shows the result on 127.0.0.1 with the production headers.
"""
