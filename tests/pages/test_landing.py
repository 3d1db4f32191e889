"""The landing page at /: what Fiko is and where to go; the demo logins only under DEBUG; the
admin's "View site" lands there."""
import re

import pytest

LINKS = ["/inbox/", "/docs", "/docs/protocol/", "/admin/"]


def links(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', html)


def test_landing_page_says_what_fiko_is_and_links_everything(client, settings):
    settings.DEBUG = False
    response = client.get("/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "customer-messaging inbox" in html
    assert set(LINKS) <= set(links(html))
    # Production: no demo credentials on the page.
    assert "Demo logins" not in html and "<code>demo</code>" not in html


def test_landing_page_shows_the_demo_logins_under_debug(client, settings):
    settings.DEBUG = True
    html = client.get("/").content.decode()
    assert "Demo logins" in html
    rows = re.findall(r"<tr><td>([^<]+)</td><td><code>([^<]+)</code></td><td><code>([^<]+)</code>", html)
    assert ("staff (owner)", "demo", "demo") in rows
    assert ("second agent", "agent", "agent") in rows
    assert ("web-chat customer", "david.brown@example.com", "customer") in rows


@pytest.mark.django_db
def test_the_demo_logins_shown_are_the_ones_seed_demo_creates(client, settings):
    from django.core.management import call_command

    from workspaces.demo import demo_logins

    call_command("seed_demo", verbosity=0)
    settings.DEBUG = True
    html = client.get("/").content.decode()
    staff = [login for login in demo_logins() if login.who != "web-chat customer"]
    for login in staff:
        assert f"<code>{login.login}</code>" in html
        token = client.post("/api/auth/token/", {"username": login.login, "password": login.password},
                            content_type="application/json")
        assert token.status_code == 200, login
    customer = next(login for login in demo_logins() if login.who == "web-chat customer")
    answer = client.post("/api/v1/customer-auth/login", {"workspace": "demo", "email": customer.login,
                                                          "password": customer.password},
                         content_type="application/json")
    assert answer.status_code == 200


def test_other_methods_are_refused_not_served(client):
    assert client.post("/").status_code == 405


@pytest.mark.django_db
def test_admin_view_site_lands_on_the_landing_page(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert re.search(r'<a href="/">View site</a>', html)
    assert admin_client.get("/").status_code == 200
