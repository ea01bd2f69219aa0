"""Views as a person sees them: an MCP Apps host in headless Chromium renders each tool's
``ui://`` view in a sandboxed iframe, end to end through real parts.

The tracker API (tests/apps/api.py) on 127.0.0.1, ``mcpbuild serve tests/apps/views.yaml``
as a real process, and the host: a page (tests/apps/host/, bundled with the pinned esbuild)
that connects to ``/mcp`` with the official TypeScript client through its own backend
(tests/apps/host_server.py) and runs each view through ext-apps' ``AppBridge``. The checks
are on what the view shows, what it asks the host for, and what reaches the API.
Screenshots of each view type land in docs/views-*.png with MCPBUILD_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent
from playwright.async_api import (
    BrowserContext,
    Dialog,
    Frame,
    FrameLocator,
    Page,
    Route,
    async_playwright,
    expect,
)

from tests.apps.api import AVATARS, HOSTILE, ITEMS, PNG, SCRIPT, ApiState, api_app
from tests.apps.host_server import host_app
from tests.browser import CHROMIUM, FLAGS, screenshot_dir
from tests.servers import bound_socket, free_port, running, wait_for_http

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent
SPEC = APPS / "views.yaml"
DOCS = screenshot_dir()
WAIT = 10_000  # ms, for anything the view or host does after a click or an open


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope: one API, one mcpbuild serve, one host and one Chromium for all tests.
    return "asyncio"


@pytest.fixture(scope="module")
def bundle() -> Path:
    """tests/apps/build/host.js, bundled from host/host.js with the pinned esbuild."""
    esbuild = APPS / "node_modules" / "esbuild" / "bin" / "esbuild"
    if not esbuild.is_file():
        raise RuntimeError(
            "npm packages of the test host are not installed: run `make unit`, or "
            f"`cd {APPS} && npm ci` with Node from .venv/bin on PATH"
        )
    node = shutil.which("node")
    assert node, "node (>= 22) is not on PATH; run the tests through `make test`"
    out = APPS / "build" / "host.js"
    subprocess.run(
        [
            node,
            str(esbuild),
            str(APPS / "host" / "host.js"),
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--target=chrome120",
            "--log-level=warning",
            f"--outfile={out}",
        ],
        check=True,
        timeout=60,
    )
    return out


@dataclass
class World:
    api: ApiState
    api_url: str
    mcp_url: str  # mcpbuild serve's own endpoint (for clients without the extension)
    host_url: str  # the host page, whose /mcp reaches mcpbuild serve
    log: Path  # mcpbuild serve's JSON log lines

    def calls_logged(self) -> list[dict[str, Any]]:
        """The "tool call" lines of mcpbuild serve's log."""
        lines = [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("msg") == "tool call"]


@pytest.fixture(scope="module")
async def world(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    folder = tmp_path_factory.mktemp("apps")
    state = ApiState()
    async with running(api_app(state), sock=bound_socket()) as api_url:
        port = free_port()
        serve_base = f"http://127.0.0.1:{port}"
        log = folder / "serve.log"
        command = [sys.executable, "-m", "builder.cli", "serve", str(SPEC), "--port", str(port)]
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [*command, "--log-format", "json"],
                env={**os.environ, "API_URL": api_url, "PYTHONPATH": str(ROOT)},
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            await wait_for_http(serve_base + "/healthz")
            page = APPS / "host" / "index.html"
            app = host_app(serve_base + "/mcp", page, bundle)
            async with running(app, sock=bound_socket()) as host_url:
                yield World(state, api_url, serve_base + "/mcp", host_url, log)
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[BrowserContext]:
    """Chromium, and one context for the module's pages (each test has its own page)."""
    assert Path(CHROMIUM).exists(), "Debian chromium is missing; `make test` installs it"
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await launched.new_context(
            viewport={"width": 900, "height": 600}, locale="en-US", timezone_id="UTC"
        )
        context.set_default_timeout(WAIT)
        yield context
        await launched.close()


@dataclass
class Host:
    page: Page
    dialogs: list[str]  # alert(), confirm()... from the page or any frame
    fetched: list[str]  # requests beyond 127.0.0.1 (answered here: nothing leaves the machine)

    @property
    def view(self) -> FrameLocator:
        return self.page.frame_locator("iframe#view")

    async def open(
        self, tool: str, args: dict[str, Any] | None = None, theme: str = "light"
    ) -> None:
        """Have the host call ``tool`` and render its view; wait until the view drew it."""
        with anyio.fail_after(WAIT / 1000):
            await self.page.evaluate(
                "([tool, args, theme]) => hostApi.open(tool, args, theme)",
                [tool, args or {}, theme],
            )
        await expect(self.view.locator("html[data-state=ready]")).to_have_count(1, timeout=WAIT)

    async def frame(self) -> Frame:
        """The view's frame, to evaluate script in."""
        handle = await self.page.wait_for_selector("iframe#view")
        assert handle is not None
        frame = await handle.content_frame()
        assert frame is not None
        return frame

    async def log(self) -> dict[str, Any]:
        log: dict[str, Any] = await self.page.evaluate("hostLog")
        return log

    async def screenshot(self, name: str) -> None:
        """views-NAME.png in DOCS: the view's frame, once the host sized it to the view."""
        await self.page.wait_for_function(
            """() => {
                const size = hostLog.sizes.at(-1);
                const frame = document.getElementById("view").getBoundingClientRect();
                return size && Math.abs(frame.height - Math.min(Math.ceil(size.height), 600)) < 1;
            }""",
            timeout=WAIT,
        )
        await self.page.locator("iframe#view").screenshot(path=str(DOCS / f"views-{name}.png"))


@pytest.fixture
async def host(world: World, browser: BrowserContext) -> AsyncIterator[Host]:
    page = await browser.new_page()
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    fetched: list[str] = []

    async def elsewhere(route: Route) -> None:
        fetched.append(route.request.url)
        if route.request.url.startswith(AVATARS + "/"):
            await route.fulfill(body=PNG, content_type="image/png")
        else:
            await route.abort()

    await page.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/])"), elsewhere)
    await page.goto(world.host_url)
    await page.wait_for_function("window.hostApi", timeout=WAIT)
    with anyio.fail_after(WAIT / 1000):
        await page.evaluate("hostApi.connected")
    try:
        yield Host(page, dialogs, fetched)
        assert (await page.evaluate("hostLog.errors")) == []
    finally:
        await page.close()


def luminance(css: str) -> float:
    """Relative luminance (0 black .. 1 white) of a CSS ``rgb()``/``rgba()`` colour."""
    r, g, b = (int(x) / 255 for x in re.findall(r"[\d.]+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


async def colours(frame: Frame) -> tuple[str, str]:
    """The view's background as painted (body, else html, else the white canvas) and text."""
    found: list[str] = await frame.evaluate(
        """() => {
            const transparent = (c) => c === "transparent" || /rgba\\(.*,\\s*0\\)$/.test(c);
            const body = getComputedStyle(document.body);
            const html = getComputedStyle(document.documentElement);
            const bg = [body.backgroundColor, html.backgroundColor].find((c) => !transparent(c));
            return [bg || "rgb(255, 255, 255)", body.color];
        }"""
    )
    return found[0], found[1]


# The table


async def test_table_shows_page_one_with_labels_cells_and_links(host: Host) -> None:
    await host.open("list_items")
    view = host.view
    await expect(view.get_by_test_id("view-title")).to_have_text("Items")
    await expect(view.locator("thead th")).to_have_text(
        ["#", "Title", "State", "Updated", "Home", re.compile(r"^\s*(Actions)?\s*$")]
    )
    rows = view.get_by_test_id("view-row")
    await expect(rows).to_have_count(3)
    first = rows.nth(0).get_by_test_id("view-cell")
    await expect(first).to_have_text(
        [
            "1",
            ITEMS[0]["title"],
            "open",
            re.compile(r"Mar 1, 2026"),
            ITEMS[0]["url"],
        ]
    )
    await expect(rows.nth(2).get_by_test_id("view-cell").nth(1)).to_have_text(ITEMS[2]["title"])
    title_link = first.nth(1).get_by_role("link")
    await expect(title_link).to_have_attribute("href", ITEMS[0]["url"])
    await expect(first.nth(4).get_by_role("link")).to_have_attribute("href", ITEMS[0]["url"])
    await host.screenshot("table")

    here = host.page.url
    await title_link.click()
    await host.page.wait_for_function("hostLog.links.length === 1", timeout=WAIT)
    log = await host.log()
    assert log["links"] == [ITEMS[0]["url"]]
    assert host.page.url == here  # recorded, not followed

    opened = log["opened"][-1]
    uri = "ui://views-test/views/list_items"
    assert opened["resourceUri"] == uri
    assert opened["mimeType"] == "text/html;profile=mcp-app"
    assert opened["toolMeta"]["ui"]["resourceUri"] == uri
    assert opened["toolMeta"]["openai/outputTemplate"] == uri


async def test_the_view_follows_the_hosts_theme_not_the_browsers(host: Host) -> None:
    await host.page.emulate_media(color_scheme="light")
    await host.open("list_items", theme="dark")
    frame = await host.frame()
    background, text = await colours(frame)
    assert luminance(background) < 0.2, background
    assert luminance(text) > 0.6, text
    await host.screenshot("table-dark")

    await host.page.emulate_media(color_scheme="dark")
    await host.page.evaluate("hostApi.setTheme('light')")
    await frame.wait_for_function(
        "(before) => getComputedStyle(document.body).color !== before", arg=text, timeout=WAIT
    )
    background, text = await colours(frame)
    assert luminance(background) > 0.8, background
    assert luminance(text) < 0.4, text


async def test_next_page_is_a_real_tool_call_that_reaches_the_api(host: Host, world: World) -> None:
    await host.open("list_items")
    before, logged = len(world.api.received), len(world.calls_logged())
    await host.view.get_by_test_id("view-next").click()
    rows = host.view.get_by_test_id("view-row")
    await expect(rows).to_have_count(2, timeout=WAIT)
    await expect(rows.nth(0).get_by_test_id("view-cell").nth(1)).to_have_text(ITEMS[3]["title"])
    await expect(rows.nth(1).get_by_test_id("view-cell").nth(1)).to_have_text(ITEMS[4]["title"])
    # The last page offers no next one.
    await expect(host.view.get_by_test_id("view-next")).to_have_count(0)

    log = await host.log()
    assert log["calls"] == [{"name": "list_items", "arguments": {"page": 2}}]
    assert world.api.received[before:] == ["/items?page=2"]
    # mcpbuild logged it as any other call.
    assert [(c["tool"], c["upstream_status"]) for c in world.calls_logged()[logged:]] == [
        ("list_items", 200)
    ]


async def test_open_on_a_row_shows_its_detail_through_the_detail_tool(
    host: Host, world: World
) -> None:
    await host.open("list_items")
    await (
        host.view.get_by_test_id("view-row")
        .nth(1)
        .get_by_role("button", name=re.compile("Open"))
        .click()
    )
    detail = host.view.get_by_test_id("view-detail")
    await expect(detail.get_by_role("heading")).to_have_text(ITEMS[1]["title"], timeout=WAIT)
    await expect(detail.locator("dt")).to_have_text(["State", "Author", "Updated", "Link"])
    await expect(detail.locator("dd").nth(1)).to_have_text("ben")
    assert (await host.log())["calls"] == [{"name": "get_item", "arguments": {"number": 2}}]
    assert world.api.received[-1] == "/items/2"
    # Back to the table, without another call.
    await host.view.get_by_test_id("view-back").click()
    await expect(host.view.get_by_test_id("view-row")).to_have_count(3)
    assert len((await host.log())["calls"]) == 1


# The other view types


async def test_list_shows_items_and_pages_on_with_the_link_handle(host: Host, world: World) -> None:
    await host.open("item_list")
    items = host.view.get_by_test_id("view-item")
    await expect(items).to_have_count(3)
    first = items.nth(0)
    await expect(first.get_by_role("link")).to_have_text(ITEMS[0]["title"])
    await expect(first.get_by_role("link")).to_have_attribute("href", ITEMS[0]["url"])
    await expect(first).to_contain_text("ana")
    await expect(first).to_contain_text("open")
    await host.screenshot("list")

    payload = (await host.log())["opened"][-1]["result"]["_meta"]["mcpbuild/view"]
    await host.view.get_by_test_id("view-next").click()
    await expect(items).to_have_count(2, timeout=WAIT)
    await expect(items.nth(1).get_by_role("link")).to_have_text(ITEMS[4]["title"])
    log = await host.log()
    assert log["calls"] == [{"name": "item_list", "arguments": payload["next"]["arguments"]}]
    assert world.api.received[-1] == "/items?page=2"


async def test_detail_shows_the_fields_of_one_record(host: Host) -> None:
    await host.open("get_item", {"number": 3})
    detail = host.view.get_by_test_id("view-detail")
    await expect(detail.get_by_role("heading")).to_have_text(ITEMS[2]["title"])
    await expect(detail.locator("dt")).to_have_text(["State", "Author", "Updated", "Link"])
    values = detail.locator("dd")
    await expect(values).to_have_text(
        ["open", "chloé", re.compile(r"Mar 3, 2026"), ITEMS[2]["url"]]
    )
    await expect(values.nth(3).get_by_role("link")).to_have_attribute("href", ITEMS[2]["url"])
    await host.screenshot("detail")


async def image_size(frame: Frame) -> list[int]:
    """The natural size of the view's image, once it has loaded (or failed to)."""
    await frame.wait_for_function("document.images[0]?.complete", timeout=WAIT)
    size: list[int] = await frame.evaluate(
        "(i => [i.naturalWidth, i.naturalHeight])(document.images[0])"
    )
    return size


async def test_images_from_a_binary_response_and_from_a_declared_origin(host: Host) -> None:
    await host.open("get_avatar")
    figure = host.view.get_by_test_id("view-image")
    await expect(figure.get_by_role("img")).to_have_attribute("alt", "The tracker avatar")
    await expect(figure).to_contain_text("Tracker")
    assert await image_size(await host.frame()) == [240, 160]
    await host.screenshot("image")

    await host.open("item_avatar", {"number": 1})
    await expect(figure.get_by_role("img")).to_have_attribute("alt", "ana")
    await expect(figure.get_by_role("img")).to_have_attribute("src", ITEMS[0]["avatar_url"])
    await expect(figure).to_contain_text(ITEMS[0]["title"])
    assert await image_size(await host.frame()) == [240, 160]
    assert host.fetched == [ITEMS[0]["avatar_url"]]
    assert (await host.log())["opened"][-1]["csp"] == {"resourceDomains": [AVATARS]}


async def test_template_renders_the_authors_markup_with_the_values(host: Host) -> None:
    await host.open("item_card", {"number": 2})
    card = host.view.get_by_test_id("view-template")
    await expect(card.get_by_role("heading")).to_have_text(f"#2 {ITEMS[1]['title']}")
    await expect(card).to_contain_text("Opened by ben")
    await expect(card.get_by_role("link")).to_have_attribute("href", ITEMS[1]["url"])
    await host.screenshot("template")


async def test_an_error_result_is_shown_as_text(host: Host) -> None:
    await host.open("get_item", {"number": 99})
    error = host.view.get_by_test_id("view-error")
    await expect(error).to_contain_text("404")
    await expect(host.view.get_by_test_id("view-detail")).to_have_count(0)


# Hostile data


HOSTILE_OPENS: list[tuple[str, dict[str, Any]]] = [
    ("hostile_items", {}),
    ("hostile_list", {}),
    *[("hostile_item", {"number": r["number"]}) for r in HOSTILE],
    *[("hostile_avatar", {"number": r["number"]}) for r in HOSTILE],
    *[("hostile_card", {"number": r["number"]}) for r in HOSTILE],
]

_DANGEROUS = """() => {
    const bad = [];
    for (const el of document.querySelectorAll("*")) {
        for (const attr of el.attributes) {
            const name = attr.name.toLowerCase();
            const value = attr.value.replace(/[\\u0000-\\u0020]/g, "").toLowerCase();
            if (name.startsWith("on") || name === "srcdoc") bad.push(`${el.localName} ${name}`);
            if (/^(javascript|vbscript):/.test(value) || /^data:text\\/html/.test(value)) {
                bad.push(`${el.localName} ${name}=${attr.value}`);
            }
        }
    }
    for (const el of document.querySelectorAll("#view :is(script, iframe, object, embed)")) {
        bad.push(el.outerHTML.slice(0, 80));
    }
    return bad;
}"""


async def test_hostile_data_runs_nothing_in_any_view(host: Host) -> None:
    for tool, args in HOSTILE_OPENS:
        await host.open(tool, args)
        frame = await host.frame()
        assert await frame.evaluate("window.pwned") is None, tool
        assert await host.page.evaluate("window.pwned") is None, tool
        assert await frame.evaluate(_DANGEROUS) == [], (tool, args)
        assert frame.child_frames == [], tool
        text = await frame.evaluate("document.body.innerText")
        if tool in ("hostile_items", "hostile_list"):
            assert SCRIPT in text, tool
        elif tool == "hostile_avatar":
            record = HOSTILE[args["number"] - 1]
            assert record["author"] in text, (tool, args)  # the caption, as text
            image = await frame.evaluate("(i => i && [i.src, i.alt])(document.images[0])")
            if record["avatar_url"].startswith(AVATARS):
                src = await frame.evaluate("(url) => new URL(url).href", record["avatar_url"])
                assert image == [src, record["title"]], (tool, args)
            else:
                assert image is None, (tool, args)
        else:
            assert HOSTILE[args["number"] - 1]["title"] in text, (tool, args)
    assert host.dialogs == []
    assert all(url.startswith(AVATARS + "/") for url in host.fetched), host.fetched


_PROBES = """async (url) => {
    const fetched = await fetch(url).then(() => "reached", () => "blocked");
    const image = await new Promise((done) => {
        const img = new Image();
        img.onload = () => done("loaded");
        img.onerror = () => done("blocked");
        img.src = url;
    });
    const script = document.createElement("script");
    script.textContent = "window.pwned = 1";
    document.body.append(script);
    return [fetched, image, window.pwned ?? null];
}"""


async def test_the_view_reaches_no_network_and_runs_no_other_script(
    host: Host, world: World
) -> None:
    await host.open("hostile_avatar", {"number": 1})
    opened = (await host.log())["opened"][-1]
    assert opened["csp"] == {"resourceDomains": ["https://avatars.example.com"]}
    url = f"{world.api_url}/avatar.png?from=view"
    frame = await host.frame()
    with anyio.fail_after(WAIT / 1000):
        assert await frame.evaluate(_PROBES, url) == ["blocked", "blocked", None]
    assert not [r for r in world.api.received if "from=view" in r]


# A host without the extension


def _texts(result: CallToolResult) -> list[str]:
    return [c.text for c in result.content if isinstance(c, TextContent)]


async def test_a_host_without_the_extension_gets_the_same_result(world: World) -> None:
    async with Client(world.mcp_url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        pairs = [
            (
                await client.call_tool("get_item", {"number": 2}),
                await client.call_tool("get_item_plain", {"number": 2}),
            ),
            (
                await client.call_tool("get_item", {"number": 99}),
                await client.call_tool("get_item_plain", {"number": 99}),
            ),
            (
                await client.call_tool("list_items", {"page": 1}),
                await client.call_tool("list_items_plain", {"page": 1}),
            ),
        ]
    for name in ("get_item", "list_items"):
        seen, plain = tools[name], tools[f"{name}_plain"]
        assert seen.meta
        assert seen.meta["ui"]["resourceUri"] == f"ui://views-test/views/{name}"
        assert not (plain.meta or {}).get("ui")
        assert seen.input_schema == plain.input_schema
        assert seen.annotations == plain.annotations
    for with_view, without in pairs:
        assert with_view.is_error == without.is_error
        assert with_view.structured_content == without.structured_content
        assert [t.replace("list_items_plain", "list_items") for t in _texts(without)] == _texts(
            with_view
        )
        assert len(with_view.content) == len(without.content)
        # Not even the view's values: a client that did not declare the extension gets none.
        assert with_view.meta == without.meta
        assert "mcpbuild/view" not in (with_view.meta or {})
    ok, error, _ = (with_view for with_view, _ in pairs)
    assert json.loads(_texts(ok)[0]) == ITEMS[1]
    assert error.is_error
