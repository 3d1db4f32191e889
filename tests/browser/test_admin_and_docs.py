"""The admin and the API docs as a browser shows them, from a real Daphne: the admin is styled,
and /docs renders with every request answered by this machine (no CDN, no web fonts)."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import is_local
from tests.factories import make_user, make_workspace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(services, transactional_db):
    user = make_user("olivia", workspace=make_workspace("acme"), role="owner", password="pw-olivia-123")
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


def stylesheet_rules(page, fragment: str) -> int:
    """How many CSS rules the page loaded from stylesheets whose URL contains ``fragment``."""
    return page.evaluate("""fragment => Array.from(document.styleSheets)
        .filter(sheet => sheet.href && sheet.href.includes(fragment))
        .reduce((total, sheet) => total + sheet.cssRules.length, 0)""", fragment)


def test_the_admin_has_its_stylesheet(owner, server, browser):
    page = browser.page
    page.goto(server.http_url("/admin/"))
    assert stylesheet_rules(page, "/static/admin/css/base") > 50
    # Styled: the login box is a narrow centred column, not the full-width raw form.
    box = page.locator("#container").bounding_box()
    assert box["width"] < 800, box
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("pw-olivia-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    assert stylesheet_rules(page, "/static/admin/css/base") > 50
    header_background = page.locator("#header").evaluate("element => getComputedStyle(element).backgroundColor")
    assert header_background not in ("rgba(0, 0, 0, 0)", "transparent"), header_background
    browser.screenshot("admin")


def test_docs_render_with_no_request_leaving_the_machine(server, browser):
    page = browser.page
    requested, refused = [], []

    def only_local(route):
        url = route.request.url
        requested.append(url)
        if is_local(url):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(server.http_url("/docs"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Fiko")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()  # the operations, from /api/schema/
    browser.screenshot("docs")
    assert refused == []
    assert any("/api/schema/" in url for url in requested), requested
    assert browser.errors == []
