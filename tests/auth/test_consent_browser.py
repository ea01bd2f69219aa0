"""The consent page in headless Chromium (Debian's, driven by Playwright), end to end:
our /authorize, the consent page read and approved by clicking, the provider's sign-in,
and back to the client with a code that works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Route, async_playwright

from tests.auth.stack import Stack, mcpbuild, notes_api
from tests.browser import CHROMIUM, FLAGS
from tests.oauth_client import REDIRECT_URI, RawClient, pkce
from tests.provider_fixture import running_provider

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with (
        running_provider(auto_login="alice") as provider,
        notes_api(provider) as notes,
        mcpbuild(provider, notes, tmp_path / "s.db") as s,
    ):
        yield s


async def test_consent_in_chromium(stack: Stack, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian chromium is missing; `make test` installs it"
    async with httpx.AsyncClient() as http:
        raw = RawClient(stack.base, http)
        assert (await raw.register()).status_code == 201
        verifier, challenge = pkce()
        authorize = raw.authorize_url(challenge, "notes.read notes.write")
        landed: list[str] = []

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page()

            async def client_redirect(route: Route) -> None:
                landed.append(route.request.url)
                await route.fulfill(body="<p>client got the code</p>", content_type="text/html")

            await page.route(REDIRECT_URI + "*", client_redirect)
            await page.goto(authorize)
            assert page.url.startswith(stack.base + "/consent?request=")
            text = await page.inner_text("body")
            assert "raw test client wants to use Test notes as you." in text
            assert "notes.read — Read your notes" in text
            assert "notes.write — Create and delete your notes" in text
            assert "your answer is sent to 127.0.0.1:33418" in text
            await page.screenshot(path=str(tmp_path / "consent.png"), full_page=True)
            await page.get_by_role("button", name="Approve").click()
            await page.wait_for_url(REDIRECT_URI + "*", timeout=15_000)
            await browser.close()

        assert len(landed) == 1
        query = httpx.URL(landed[0]).params
        assert query["state"] == "st-1"
        assert query["iss"] == stack.base + "/"
        tokens = await raw.exchange(query["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "notes.read notes.write"
    assert (tmp_path / "consent.png").stat().st_size > 1000
