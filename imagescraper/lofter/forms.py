"""The exact requests LOFTER's app clients send, as pure data: path, query and form fields.

Working clients (research/lofter.md section 13: gallery-dl 1.32.18, lftr, RSSHub, Loftify)
agree on these; tests/test_lofter_api.py pins each one against the notes so a later change
cannot drift from them. The blog domain is always ``<name>.lofter.com``, the LOFTER host name,
whatever serves the pages (a mirror, or the fake site in the tests).
"""

from __future__ import annotations

# The product gallery-dl sends; the API answers it without a login.
PRODUCT = "lofter-android-7.9.10"
BLOG_LIST = "/v2.0/blogHomePage.api"
POST_DETAIL = "/oldapi/post/detail.api"
TAG_POSTS = "/newapi/tagPosts.json"
COLLECTION = "/v1.1/postCollection.api"
LIKES = "/v1.1/batchdata.api"
# What lftr, RSSHub and Loftify add to the blog listing: every post type, new-style digests,
# password-protected posts checked, and counts.
POST_TYPES = "1,2,3,4,5,6"


def blog_domain(blog: str) -> str:
    return f"{blog}.lofter.com"


def blog_list_form(blog: str, offset: int, limit: int) -> dict[str, str]:
    return {
        "method": "getPostLists",
        "offset": str(offset),
        "limit": str(limit),
        "blogdomain": blog_domain(blog),
        "supportposttypes": POST_TYPES,
        "postdigestnew": "1",
        "checkpwd": "1",
        "needgetpoststat": "1",
    }


def post_detail_form(blog_id: int, post_id: int) -> dict[str, str]:
    return {"targetblogid": str(blog_id), "postid": str(post_id)}


def tag_form(tag: str, ranking: str, offset: int) -> dict[str, str]:
    return {
        "tag": tag,
        "type": ranking,
        "offset": str(offset),
        "postTypes": "",
        "postYm": "",
        "recentDay": "0",
        "protectedFlag": "0",
        "range": "0",
        "firstpermalink": "null",
        "style": "0",
        "product": PRODUCT,
    }


def collection_form(collection_id: int, offset: int, limit: int) -> dict[str, str]:
    return {
        "method": "getCollectionDetail",
        "collectionid": str(collection_id),
        "offset": str(offset),
        "limit": str(limit),
        "order": "1",
    }


def likes_form(method: str, offset: int, limit: int, blog: str | None) -> dict[str, str]:
    form = {"method": method, "offset": str(offset), "limit": str(limit), "returnData": "1"}
    if blog:
        form["blogdomain"] = blog_domain(blog)
    return form


def query(path: str) -> str:
    """The query string of a call: the tag endpoint takes ``product`` in its body instead."""
    return "" if path == TAG_POSTS else f"?product={PRODUCT}"
