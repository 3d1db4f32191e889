#!/usr/bin/env python3
"""Retake docs/screenshots/*.png from a running `make run` (demo data), with Debian's Chromium:

    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000]

The console with a Persian conversation open (another agent has it open too: presence), the
console at phone width, the customers view, the admin and /docs. PNGs are reduced to 256 colours.
"""
import argparse
import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}


def save(page, name: str) -> None:
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(OUT / f"{name}.png", optimize=True)
    print(OUT / f"{name}.png", (OUT / f"{name}.png").stat().st_size, "bytes")


def console_login(context, base: str, username: str, password: str):
    page = context.new_page()
    page.goto(f"{base}/inbox/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_text("live")
    return page


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    base = parser.parse_args().base.rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        other = console_login(browser.new_context(viewport=LAPTOP), base, "agent", "agent")
        other.locator(".conv", has_text="علی رضایی").get_by_role("button").click()

        page = console_login(browser.new_context(viewport=LAPTOP), base, "demo", "demo")
        page.locator(".conv", has_text="علی رضایی").get_by_role("button").click()
        expect(page.locator("#chat-presence")).to_contain_text("agent")
        save(page, "console-inbox")

        page.locator(".tab[data-view=customers]").click()
        expect(page.locator("#cust-rows tr").first).to_be_visible()
        save(page, "console-customers")

        phone = console_login(browser.new_context(viewport={"width": 390, "height": 760}), base, "demo", "demo")
        expect(phone.locator(".conv").first).to_be_visible()
        save(phone, "console-phone")

        admin = browser.new_context(viewport=LAPTOP).new_page()
        admin.goto(f"{base}/admin/conversations/conversation/")
        admin.get_by_label("Username").fill("demo")
        admin.get_by_label("Password").fill("demo")
        admin.get_by_role("button", name="Log in").click()
        expect(admin.locator("#result_list")).to_be_visible()
        save(admin, "admin")

        docs = browser.new_context(viewport=LAPTOP).new_page()
        docs.goto(f"{base}/docs")
        expect(docs.locator(".swagger-ui .opblock").first).to_be_visible()
        save(docs, "docs")
        browser.close()


if __name__ == "__main__":
    main()
