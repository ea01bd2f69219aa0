"""The inspector in headless Chromium, end to end: open /inspector, sign in through the
consent page and oidc-provider, call tools, see the results and the log, force an upstream
expiry and watch exactly one refresh, revoke and see the re-authorization prompt. The
screenshots go to docs/ for the README (tests/screenshots.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.auth.stack import Stack
from tests.browser import CHROMIUM, FLAGS, screenshot_dir

pytestmark = pytest.mark.anyio
DOCS = screenshot_dir()
WAIT = 15_000  # ms: the bound on every wait
# For a screenshot with the grant card and the log's last lines in one window: tools folded.
COMPACT = """
document.querySelectorAll("details.tool").forEach((d) => { d.open = false; });
document.getElementById("grant-card").scrollIntoView();
const log = document.getElementById("log");
log.style.maxHeight = "180px";
log.scrollTop = log.scrollHeight;
"""


async def call(page: Page, tool: str, **fields: str) -> None:
    block = page.locator(f'details.tool[data-tool="{tool}"]')
    if not await block.evaluate("details => details.open"):
        await block.locator("summary").click(timeout=WAIT)
    for name, value in fields.items():
        await page.fill(f"#arg-{tool}-{name}", value)
    await block.get_by_role("button", name=f"Call {tool}").click(timeout=WAIT)


async def test_inspector_in_chromium(stack: Stack) -> None:
    assert Path(CHROMIUM).exists(), "Debian chromium is missing; `make test` installs it"
    errors: list[str] = []
    api_bodies: list[bytes] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Script errors only: the 401s and the refused refresh are the flow being shown.
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )

        async def keep(response: object) -> None:
            url = getattr(response, "url", "")
            if "/inspector/api/" in url and not url.endswith("/events"):
                api_bodies.append(await response.body())  # type: ignore[attr-defined]

        page.on("response", keep)

        # Not signed in: discovery from /mcp's 401, then the sign-in button.
        await page.goto(stack.base + "/inspector")
        await expect(page.locator("#signin-button")).to_be_visible(timeout=WAIT)
        await expect(page.locator("#log")).to_contain_text("POST /mcp without a token → 401")
        await page.click("#signin-button")

        # Our consent page, approved by clicking; the provider signs alice in by itself.
        await page.wait_for_url(stack.base + "/consent?request=*", timeout=WAIT)
        assert "mcpbuild inspector wants to use Test notes" in await page.inner_text("body")
        await page.get_by_role("button", name="Approve").click()
        await page.wait_for_url(stack.base + "/inspector", timeout=WAIT)
        await expect(page.locator("#status")).to_have_text("Signed in.", timeout=WAIT)

        # Both token layers, without their values.
        await expect(page.locator("#token-scopes")).to_have_text("notes.read notes.write")
        await expect(page.locator("#grant-scopes")).to_contain_text("notes.read")
        await expect(page.locator("#grant-refreshes")).to_have_text("0")
        await expect(page.locator("#grant-error")).to_have_text("none")
        await expect(page.locator("details.tool")).to_have_count(3)
        await page.screenshot(path=str(DOCS / "inspector-signed-in.png"))

        # A tool with arguments, then one whose result is structured.
        await call(page, "create_note", title="Buy milk", body="two litres")
        await expect(page.locator("#result-tool")).to_have_text("create_note", timeout=WAIT)
        await expect(page.locator("#result-text")).to_contain_text("Buy milk")
        await call(page, "list_notes")
        await expect(page.locator("#result-tool")).to_have_text("list_notes", timeout=WAIT)
        await expect(page.locator("#result")).to_contain_text("Buy milk")
        log = page.locator("#log")
        await expect(log).to_contain_text("tools/call list_notes")
        await expect(log).to_contain_text("result")
        notes_api = stack.notes.seen[0]
        assert notes_api.path == "/api/notes"
        await expect(log).to_contain_text("GET http://127.0.0.1:", timeout=WAIT)
        await expect(log).to_contain_text("/api/notes → 200", timeout=WAIT)
        await page.evaluate("document.getElementById('result-section').scrollIntoView()")
        await page.screenshot(path=str(DOCS / "inspector-call.png"))

        # Force the upstream expiry: the next call refreshes exactly once.
        before = (await stack.provider.stats())["token_requests"].get("refresh_token", 0)
        await page.click("#expire-button")
        await expect(log).to_contain_text("upstream access token marked expired", timeout=WAIT)
        await expect(page.locator("#grant-expires")).to_contain_text("expired", timeout=WAIT)
        await call(page, "list_notes")
        await expect(page.locator("#grant-refreshes")).to_have_text("1", timeout=WAIT)
        await expect(log.locator("li.token")).to_have_count(1, timeout=WAIT)
        token_line = await log.locator("li.token").inner_text()
        assert stack.provider.token_endpoint in token_line
        assert "refresh_token → 200" in token_line
        after = (await stack.provider.stats())["token_requests"].get("refresh_token", 0)
        assert after == before + 1
        await expect(page.locator("#grant-error")).to_have_text("none")
        await page.evaluate(COMPACT)
        await page.screenshot(path=str(DOCS / "inspector-refresh.png"))

        # No token value is ever on the page.
        tokens = json.loads(
            await page.evaluate("sessionStorage.getItem('mcpbuild.inspector.tokens')")
        )
        html = await page.content()
        for secret in (tokens["access_token"], tokens["refresh_token"]):
            assert secret not in html
            assert all(secret.encode() not in body for body in api_bodies)
        for upstream in stack.notes.bearer_tokens():
            assert upstream not in html

        # Revoke: the next call gets 401, the refresh is refused, the page asks again.
        await page.click("#revoke-button")
        await expect(log).to_contain_text("grant revoked", timeout=WAIT)
        await call(page, "list_notes")
        await expect(page.locator("#signin-title")).to_have_text(
            "Re-authorization required", timeout=WAIT
        )
        await expect(page.locator("#signin-button")).to_have_text("Sign in again")
        await page.screenshot(path=str(DOCS / "inspector-reauthorize.png"))
        await browser.close()
    assert not errors, errors
    for name in ("signed-in", "call", "refresh", "reauthorize"):
        assert (DOCS / f"inspector-{name}.png").stat().st_size > 5000
