"""/docs (Swagger UI), /docs/redoc/ (ReDoc) and /docs/protocol/ (docs/protocol.md) work offline:
every script, stylesheet and icon they load is served by this server, and answers."""
import json
import re
from html.parser import HTMLParser

import pytest

DOCS_PAGES = ["/docs", "/docs/redoc/", "/docs/protocol/"]
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class Resources(HTMLParser):
    """What a browser loads by itself from a page (not what a click on a link opens)."""

    def __init__(self):
        super().__init__()
        self.loaded, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "link" and attrs.get("href"):
            self.loaded.append(attrs["href"])  # stylesheet, icon, preconnect, font...
        elif attrs.get("src"):
            self.loaded.append(attrs["src"])  # script, img, iframe...


def page_resources(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    parser = Resources()
    parser.feed(html)
    return html, parser


def fetch(client, path) -> tuple[int, str, bytes]:
    response = client.get(path)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, response["Content-Type"], body


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_loads_only_local_assets_and_they_answer(client, page):
    html, resources = page_resources(client, page)
    assert resources.loaded, "found no assets: the parser is not reading the page"
    for url in resources.loaded:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from another host"
        status, content_type, body = fetch(client, url)
        assert status == 200, url
        suffix = re.search(r"\.\w+$", url).group()
        assert content_type.startswith(CONTENT_TYPES[suffix]), (url, content_type)
        assert body
        if suffix == ".css":  # a stylesheet could still pull fonts or images from elsewhere
            assert not re.search(rb"(@import|url\()\s*['\"]?(https?:)?//", body), url
    # Nor does any inline script or style name another host.
    for block in re.findall(r"<(script|style)[^>]*>(.*?)</\1>", html, flags=re.S):
        assert not re.search(r"https?://", block[1]), f"{page}: inline {block[0]} names a host"


def test_swagger_ui_comes_from_the_sidecar_and_links_the_protocol(client):
    html, resources = page_resources(client, "/docs")
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in resources.loaded
    assert "validatorUrl" in html  # the validator badge (a call to validator.swagger.io) is off
    assert "/docs/protocol/" in resources.links and "/docs/redoc/" in resources.links
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)
    assert "(/docs/protocol/)" in schema["info"]["description"]  # a link in the rendered description


def test_redoc_comes_from_the_sidecar_without_web_fonts(client):
    html, resources = page_resources(client, "/docs/redoc/")
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in resources.loaded
    assert "fonts.googleapis.com" not in html
