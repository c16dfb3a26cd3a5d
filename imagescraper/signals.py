"""Signals of this project, sent through the crawler's SignalManager."""

# Sent by the pipeline once per image URL that could not be stored.
# Arguments: url (str), reason (short key such as "http-404"), detail (one sentence).
image_failed = object()

# Sent by the pipeline when it has opened (and locked) the image store, before any image.
# Arguments: store (imagescraper.store.ImageStore), for components that ask what is stored.
store_opened = object()

# Sent by the retry middleware when a request starts and ends waiting before its retry
# (Retry-After or back-off), so that the spider can give that item's place to another.
# Argument: request.
retry_wait_started = object()
retry_wait_ended = object()
