"""The offline demo behind `./dev demo`: loopback servers and real crawls of both spiders.

1. urlfile: starts the test image server with ten sample images, writes ``<output>/urls.txt``
   (with a comment, a duplicate and a line rejected on purpose) and runs
   ``scrapy crawl urlfile`` into ``<output>/images``;
2. lofter: starts the fake LOFTER (blog ``ceshi``) and runs ``scrapy crawl lofter -a domain=ceshi``
   into the same store, one folder per post under ``ceshi/``;
3. gallery: runs ``scrapy gallery`` into ``<output>/gallery`` and says how to open it.

Both run exactly as a user would run them; the servers stop afterwards. Run the demo twice to
see the second run find everything already present.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from demo import images
from demo.crawling import REPO, crawl_command
from demo.fakelofter import FakeLofter
from demo.imageserver import ImageServer

DEMO_PORT = 18080
LOFTER_DEMO_PORT = 18081
DEMO_IMAGES = {
    **{f"/gallery/photo-{n:02d}.jpg": images.jpeg(f"demo-photo-{n}", size=(640, 480)) for n in range(1, 7)},
    "/gallery/transparent.png": images.png_with_alpha("demo-alpha", size=(400, 300)),
    "/gallery/animated.gif": images.animated_gif("demo-gif", size=(200, 150), frames=5),
    "/gallery/modern.webp": images.webp("demo-webp", size=(480, 360)),
    "/mirror/photo-01.jpg": images.jpeg("demo-photo-1", size=(640, 480)),
}


def _on_fixed_port(make, port):
    # A fixed port keeps the URLs, and so the stored paths, the same from one demo run to the next.
    try:
        return make(port=port)
    except OSError:
        return make(port=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(REPO / "demo-output"), help="folder for urls.txt and images/")
    parser.add_argument("--image-port", type=int, default=DEMO_PORT, help="the image server's port (%(default)s)")
    parser.add_argument("--lofter-port", type=int, default=LOFTER_DEMO_PORT, help="the fake LOFTER's (%(default)s)")
    options = parser.parse_args(argv)
    output = Path(options.output).resolve()
    output.mkdir(parents=True, exist_ok=True)

    with _on_fixed_port(ImageServer, options.image_port) as server:
        for path, body in DEMO_IMAGES.items():
            server.add_image(path, body)
        url_file = output / "urls.txt"
        lines = ["# imagescraper demo: one image URL per line", *(server.url(p) for p in DEMO_IMAGES)]
        lines += [server.url("/gallery/photo-01.jpg"), "file:///etc/passwd"]  # a duplicate, and a rejected line
        url_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        store = output / "images"
        print(f"demo: image server on {server.base}, URL list {url_file}", flush=True)
        command = crawl_command(
            "urlfile", store, {"path": url_file}, {"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting}
        )
        urlfile_status = subprocess.run(command, cwd=REPO).returncode
    print(f"\ndemo: urlfile finished with exit status {urlfile_status}\n", flush=True)

    with _on_fixed_port(FakeLofter, options.lofter_port) as blog:
        print(f"demo: fake LOFTER blog 'ceshi' on port {blog.port}", flush=True)
        command = crawl_command("lofter", store, {"domain": "ceshi"}, blog.settings())
        lofter_status = subprocess.run(command, cwd=REPO).returncode
    print(f"\ndemo: lofter finished with exit status {lofter_status}", flush=True)
    print(f"demo: images are in {store}/ (LOFTER posts under {store}/ceshi/)")
    print(f"demo: manifest {store}/.imagescraper/manifest.jsonl, summary {store}/.imagescraper/last-run.json")

    gallery = output / "gallery"
    settings = [
        *("-s", f"IMAGES_STORE={store}"),
        *("-s", f"IMAGESCRAPER_GALLERY_DIR={gallery}"),
        *("-s", "IMAGESCRAPER_GALLERY_TITLE=imagescraper demo"),
    ]
    gallery_status = subprocess.run([sys.executable, "-m", "scrapy", "gallery", *settings], cwd=REPO).returncode
    print(f"\ndemo: gallery finished with exit status {gallery_status}")
    print(f"demo: open the gallery in a browser: file://{quote(str(gallery))}/index.html")
    # The same settings as the build above, so serving it finds nothing to rebuild or rename.
    print(f"demo: or serve it on 127.0.0.1: {shlex.join(['.venv/bin/scrapy', 'gallery', '--serve', *settings])}")
    return urlfile_status or lofter_status or gallery_status
