"""/docs/protocol/: docs/protocol.md as a page of the app, its table of contents working, and
the Markdown rendered without letting HTML or script links through."""
import re

from pages.protocol_doc import github_slug, protocol_html


def test_protocol_page_renders_the_document(client):
    response = client.get("/docs/protocol/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="fiko-protocol-reference-for-frontend-developers">' in html
    assert "<table>" in html and "<th>code</th>" in html  # the error-code table is a table
    assert "<code>4404</code>" in html
    # Every in-page link of the document's contents lands on a heading.
    anchors = set(re.findall(r'href="#([^"]+)"', html))
    assert {"authentication", "wschatconversation_id", "rest-endpoints", "errors"} <= anchors
    assert anchors <= set(re.findall(r' id="([^"]+)"', html))


def test_the_landing_page_and_docs_link_the_protocol_page(client):
    assert 'href="/docs/protocol/"' in client.get("/").content.decode()
    assert 'href="/docs/protocol/"' in client.get("/docs").content.decode()


def test_github_anchor_slugs():
    assert github_slug("/ws/chat/<conversation_id>/") == "wschatconversation_id"
    assert github_slug("Multiplexed chat socket: /api/v1/chat/ws/chat/user | customer") == \
        "multiplexed-chat-socket-apiv1chatwschatuser--customer"


def test_html_and_script_links_in_the_markdown_are_not_rendered(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text('# T\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n'
                   '[click](javascript:alert(3)) [ok](#t)\n\n```html\n<b>x</b>\n```\n', encoding="utf-8")
    html = protocol_html(doc)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html)  # in no attribute
    assert '<a href="#t">ok</a>' in html


def test_the_page_follows_the_file(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("# First\n", encoding="utf-8")
    assert '<h1 id="first">First</h1>' in protocol_html(doc)
    doc.write_text("# Second title\n", encoding="utf-8")
    assert '<h1 id="second-title">Second title</h1>' in protocol_html(doc)


def test_a_server_deployed_without_the_docs_answers_404(client, tmp_path, monkeypatch):
    from pages import protocol_doc

    monkeypatch.setattr(protocol_doc, "PROTOCOL_MD", tmp_path / "missing.md")
    response = client.get("/docs/protocol/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
