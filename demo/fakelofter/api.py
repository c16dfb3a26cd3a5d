"""The fake LOFTER's app API (``api.lofter.test``), answering as research/lofter.md section 13 says
the real one does: ``meta``/``response`` envelopes (a ``code``/``data`` one for tags), HTTP 200 even
for errors, ``blogdomain`` in the ``<name>.lofter.com`` form, a cursor that is not ``page * size``,
4200 for an unknown blog or post, 401 without the login header where a login is needed."""

from __future__ import annotations

import html
import json

from demo.fakelofter.data import API_PAGE_CAP, NEW_POST_IMAGE, SITE, THUMB, images_free_text


def reply(status: int, response: dict, msg: str = "") -> str:
    """The envelope of every app API answer but the tag one; HTTP 200 whatever the status."""
    return json.dumps({"meta": {"status": status, "msg": msg}, "response": response})


class AppApi:
    def __init__(self, site):
        self.site = site  # the FakeLofter: host names, switches (api_fails_from, new_post)

    def answer(self, path: str, form: dict, *, logged_in: bool) -> tuple[str, str]:
        """The content type and JSON body for a POST to *path* with *form*."""
        return "application/json", self._route(path, form, logged_in)

    def _route(self, path: str, form: dict, logged_in: bool) -> str:
        def page(entries: list, offset: int, limit: int) -> tuple[list, int]:
            chunk = entries[offset : offset + min(limit, API_PAGE_CAP)]
            return chunk, offset + len(chunk) if offset + len(chunk) < len(entries) else -1

        offset, limit = int(form.get("offset") or 0), int(form.get("limit") or 20)
        if path == "/v2.0/blogHomePage.api" and form.get("method") == "getPostLists":
            domain = form.get("blogdomain", "")
            blog = domain.removesuffix(".lofter.com")
            data = SITE["blogs"].get(blog)
            if data is None or not domain.endswith(".lofter.com"):
                return reply(4200, {}, "博客不存在")
            elif data.get("login_required") and not logged_in:
                return reply(401, {}, "请先登录")
            elif self.site.api_fails_from is not None and offset >= self.site.api_fails_from:
                return reply(500, {}, "系统繁忙")
            else:
                chunk, cursor = page(self.listing(blog), offset, limit)
                return reply(200, {"posts": chunk, "offset": cursor})
        elif path == "/oldapi/post/detail.api":
            blog_id, post_id = int(form.get("targetblogid", 0)), int(form.get("postid", 0))
            for blog, data in SITE["blogs"].items():
                for key, post in data["posts"].items():
                    if data["blog_id"] == blog_id and int(post["hex"], 16) == post_id:
                        if post.get("deleted") or post.get("private"):
                            break
                        return reply(200, {"posts": [{"post": self.post(blog, key)}]})
            return reply(4200, {}, "内容不存在")
        elif path == "/newapi/tagPosts.json":
            return self._tag_posts(form)
        elif path == "/v1.1/postCollection.api" and form.get("method") == "getCollectionDetail":
            collection = SITE["collections"].get(form.get("collectionid", ""))
            if collection is None:
                return reply(4200, {}, "合集不存在")
            entries = [{"post": self.post(blog, key)} for blog, key in collection["posts"]]
            # The collection pages by offset and limit and says how many posts it has.
            chunk = entries[offset : offset + limit]
            return reply(200, {"collection": {"name": collection["name"], "postCount": len(entries)}, "items": chunk})
        elif path == "/v1.1/batchdata.api" and form.get("method") in ("favorites", "shares"):
            if not logged_in:
                return reply(401, {}, "请先登录")
            entries = [{"post": self.post(blog, key)} for blog, key in SITE["likes"][form["method"]]]
            chunk = entries[offset : offset + min(limit, 1)]  # one a call: the cursor has to be followed
            cursor = offset + len(chunk) if offset + len(chunk) < len(entries) else -1
            return reply(200, {"items": chunk, "offset": cursor})
        else:
            return reply(400, {}, "unknown method")

    def _tag_posts(self, form: dict) -> str:
        """The tag API: a ``code``/``data`` envelope, one post a call, ``type`` orders them."""
        tagged = self.tagged(form.get("tag", ""))
        if form.get("type") in ("total", "week", "month", "date"):
            tagged.reverse()  # "hottest first" here is simply the other order
        offset = int(form.get("offset") or 0)
        chunk = tagged[offset : offset + 1]
        more = offset + len(chunk) < len(tagged)
        data = {"list": [self.post_view(blog, key) for blog, key in chunk], "offset": offset + 1 if more else -1}
        return json.dumps({"code": 0, "msg": "", "data": data})

    def post(self, blog: str, key: str) -> dict:
        data = SITE["blogs"][blog]
        post = data["posts"][key]
        content = post["body"] + "".join(
            f'<p><img src="{html.escape(self.site._inline_src(label, path, query))}"></p>'
            for label, path, query in post.get("inline", [])
        )

        def links(entries, as_list=False):
            found = [
                {
                    "orign": f"{self.site.image_url(label, path)}?{THUMB.format('1680x0')}&{query}",
                    "raw": self.site.image_url(label, path),
                    "middle": f"{self.site.image_url(label, path)}?{THUMB.format('500x0')}",
                    "small": f"{self.site.image_url(label, path)}?imageView&thumbnail=164y164&enlarge=1",
                    "ow": 480,
                    "oh": 360,
                }
                for label, path, query in entries
            ]
            return found if as_list else json.dumps(found)

        entry = {
            "id": int(post["hex"], 16),
            "blogId": data["blog_id"],
            "blogPageUrl": self.site.post_url(blog, key),
            "title": post["title"],
            "type": post["type"],
            "publishTime": post["time"],
            **({"tagList": post["tags"]} if post.get("tag_list") else {"tag": ",".join(post["tags"])}),
            "digest": images_free_text(post["body"]),
            "content": content,
            "blogInfo": {"blogName": blog, "blogNickName": data["nickname"]},
        }
        if post.get("pinned"):
            entry["top"] = 1
        if post["type"] == 2 and post.get("first_image_only"):
            label, path, _query = post["images"][0]
            entry["photoLinks"] = "[]"
            entry["firstImageUrl"] = f"{self.site.image_url(label, path)}?{THUMB.format('1680x0')}"
        elif post["type"] == 2:
            entry["photoLinks"] = links(post.get("images", []), as_list=post.get("photo_links_list", False))
        if post["type"] == 5:
            entry["images"] = links(post.get("images", []))
        if post["type"] == 4:
            entry["embed"] = json.dumps({"originUrl": self.site.video_url(post["video"]), "duration": 3})
        return entry

    def post_view(self, blog: str, key: str) -> dict:
        """A post as the tag API gives it: ``{blogInfo, postData: {postView}}``."""
        entry = self.post(blog, key)
        view = {k: v for k, v in entry.items() if k not in ("photoLinks", "blogInfo", "tag")}
        view["tagList"] = SITE["blogs"][blog]["posts"][key]["tags"]
        if "photoLinks" in entry:
            view["photoPostView"] = {"photoLinks": json.loads(entry["photoLinks"])}
        return {"blogInfo": entry["blogInfo"], "postData": {"postView": view}}

    def tagged(self, tag: str) -> list[tuple[str, str]]:
        return [
            (blog, key)
            for blog in ("ceshi", "other")
            for key, post in SITE["blogs"][blog]["posts"].items()
            if tag in post["tags"] and not post.get("deleted") and not post.get("private")
        ]

    def listing(self, blog: str) -> list[dict]:
        data = SITE["blogs"][blog]
        keys = [k for page in data["pages"] for k in page if k != "REBLOG"]
        new = [{"post": self.new_post()}] if blog == "neu" and self.site.new_post else []
        return new + [
            {"post": self.post(blog, k)}
            for k in keys
            if not data["posts"][k].get("deleted") and not data["posts"][k].get("private")
        ]

    def new_post(self) -> dict:
        label, path = "imglf4", NEW_POST_IMAGE
        links = [
            {
                "raw": self.site.image_url(label, path),
                "orign": f"{self.site.image_url(label, path)}?{THUMB.format('1680x0')}",
            }
        ]
        post_id = 0x4C0000099
        return {
            "id": post_id,
            "blogId": 1048576,
            "blogPageUrl": f"http://{self.site.host('neu')}/post/100000_{post_id:x}",
            "title": "新发的",
            "type": 2,
            "publishTime": 1716100000000,
            "tag": "",
            "content": "",
            "photoLinks": json.dumps(links),
            "blogInfo": {"blogName": "neu", "blogNickName": "新字段"},
        }
