// The inspector page: sign in to this server's /mcp, show both token layers, a form per
// tool, the results, and a live log. Everything is drawn with textContent, never HTML.

import { toolForm } from "./form.js";
import { Log } from "./log.js";
import { McpClient } from "./mcp.js";
import { CALLBACK_PATH, OAuthClient, SignInRequired } from "./oauth.js";

const $ = (id) => document.getElementById(id);
const log = new Log($("log"));
const oauth = new OAuthClient(log);
const mcp = new McpClient(location.origin + "/mcp", oauth, log);
let needsSignIn = true;
let stream = null; // the AbortController of the open event stream

function status(text) {
  $("status").textContent = text;
}

function when(epochSeconds) {
  if (!epochSeconds) return "never";
  const left = Math.round(epochSeconds - Date.now() / 1000);
  const clock = new Date(epochSeconds * 1000).toLocaleTimeString();
  if (left <= 0) return `expired ${clock} (${-left} s ago)`;
  if (left < 120) return `${clock} (in ${left} s)`;
  return `${clock} (in ${Math.round(left / 60)} min)`;
}

function showSignIn(title, text, problem) {
  closeEvents();
  $("panels").hidden = true;
  $("signin").hidden = false;
  $("signin-title").textContent = title;
  if (text) $("signin-text").textContent = text;
  $("signin-problem").hidden = !problem;
  $("signin-problem").textContent = problem ?? "";
  $("signin-button").textContent = title === "Sign in" ? "Sign in" : "Sign in again";
  status(title === "Sign in" ? "Not signed in." : "Signed out: the grant has ended.");
}

function fail(problem) {
  if (problem instanceof SignInRequired) {
    oauth.forget();
    log.add("error", "the server refused the token and the refresh token: sign in again");
    showSignIn(
      "Re-authorization required",
      "The server answered 401 and refused the refresh token: this grant has ended (revoked, " +
        "or the provider ended it). Sign in again to create a new grant.",
    );
    return;
  }
  log.add("error", problem?.message ?? String(problem));
  status(`Error: ${problem?.message ?? problem}`);
}

async function api(method, path) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch(`/inspector/api/${path}`, {
      method,
      credentials: "omit",
      cache: "no-store",
      headers: { Authorization: `Bearer ${oauth.accessToken}` },
    });
    if (response.status !== 401) return response.json();
    if (attempt === 0 && !(await oauth.refresh())) break;
  }
  throw new SignInRequired("the token was refused");
}

async function refreshGrant() {
  const info = await api("GET", "grant");
  $("token-client").textContent = info.token.client_id;
  $("token-scopes").textContent = info.token.scopes.join(" ") || "(none)";
  $("token-expires").textContent = when(info.token.expires_at);
  $("token-resource").textContent = info.token.resource ?? "–";
  const grant = info.grant;
  $("grant-id").textContent = `${grant.id}… ${grant.active ? "active" : "ended"}`;
  $("grant-scopes").textContent = grant.scopes.join(" ") || "(none)";
  $("grant-expires").textContent = when(grant.expires_at) + (grant.refreshable ? "" : ", no refresh token");
  $("grant-refreshes").textContent = String(grant.refreshes);
  $("grant-error").textContent = grant.last_refresh_error ?? "none";
  $("connector").textContent = `— ${info.connector.title ?? info.connector.name}`;
}

function showResult(name, result) {
  const box = $("result");
  box.replaceChildren();
  box.classList.toggle("is-error", Boolean(result.isError));
  $("result-tool").textContent = `${name}${result.isError ? " (tool error)" : ""}`;
  const section = (title, text) => {
    const h = document.createElement("h3");
    h.textContent = title;
    const pre = document.createElement("pre");
    pre.textContent = text;
    box.append(h, pre);
    return pre;
  };
  if (result.structuredContent !== undefined && result.structuredContent !== null) {
    section("Structured", JSON.stringify(result.structuredContent, null, 2)).id = "result-structured";
  }
  let texts = 0;
  for (const item of result.content ?? []) {
    if (item.type === "text") {
      const title = texts === 0 ? "Text" : "Notes (what the output budget cut, more pages)";
      section(title, item.text).id = texts === 0 ? "result-text" : "result-notes";
      texts += 1;
    } else if (item.type === "image") {
      const img = document.createElement("img");
      img.alt = `image from ${name}`;
      img.src = `data:${item.mimeType};base64,${item.data}`;
      box.append(img);
    } else {
      section(item.type, `${item.resource?.mimeType ?? ""} ${item.resource?.uri ?? ""}`);
    }
  }
}

async function callTool(name, args) {
  status(`Calling ${name}…`);
  try {
    const result = await mcp.request("tools/call", { name, arguments: args });
    showResult(name, result);
    status(`${name} answered${result.isError ? " with an error" : ""}.`);
    if (needsSignIn) await refreshGrant();
  } catch (problem) {
    fail(problem);
  }
}

async function act(path, done) {
  try {
    const answer = await api("POST", path);
    log.add("action", done);
    if (path === "revoke") {
      closeEvents();
      status("Grant revoked: the next call will be refused.");
      $("grant-id").textContent = `${$("grant-id").textContent.split("…")[0]}… ended`;
    } else {
      await refreshGrant();
    }
    return answer;
  } catch (problem) {
    fail(problem);
  }
}

function closeEvents() {
  if (stream) stream.abort();
  stream = null;
}

// Server-sent events over fetch (EventSource cannot send an Authorization header).
async function openEvents() {
  closeEvents();
  const controller = new AbortController();
  stream = controller;
  let ended = false;
  try {
    const response = await fetch("/inspector/api/events", {
      credentials: "omit",
      cache: "no-store",
      headers: { Authorization: `Bearer ${oauth.accessToken}`, Accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (!response.ok) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let split;
      while ((split = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        ended = handleBlock(block) || ended;
      }
    }
  } catch {
    return; // aborted, or the connection broke
  }
  if (!ended && stream === controller && oauth.signedIn) {
    // The server closed the stream (token expired): open it again with the current token.
    setTimeout(() => stream === controller && openEvents(), 1000);
  }
}

function handleBlock(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (name === "end") return true;
  if (!data.length) return false;
  try {
    const event = JSON.parse(data.join("\n"));
    log.event(event);
    if (event.kind === "token") refreshGrant().catch(() => {});
  } catch {
    // not JSON: ignore
  }
  return false;
}

async function start() {
  status("Connecting…");
  const init = await mcp.connect();
  $("connector").textContent = `— ${init.serverInfo?.title ?? init.serverInfo?.name ?? ""}`;
  const listed = await mcp.request("tools/list", {});
  const tools = $("tools");
  tools.replaceChildren(...listed.tools.map((tool) => toolForm(tool, callTool)));
  if (tools.firstElementChild) tools.firstElementChild.open = true;
  $("signin").hidden = true;
  $("panels").hidden = false;
  if (needsSignIn) {
    await refreshGrant();
    openEvents();
    status("Signed in.");
  } else {
    $("grant-card").hidden = true;
    $("token-card").hidden = true;
    status("This server needs no sign-in.");
  }
}

async function signIn() {
  try {
    $("signin-button").disabled = true;
    status("Going to the consent page…");
    if (!oauth.metadata) await oauth.discover(await mcp.probe());
    await oauth.authorize();
  } catch (problem) {
    $("signin-button").disabled = false;
    fail(problem);
  }
}

async function main() {
  $("log-clear").addEventListener("click", () => log.clear());
  $("signin-button").addEventListener("click", signIn);
  $("expire-button").addEventListener("click", () =>
    act("expire", "upstream access token marked expired: the next call refreshes it"),
  );
  $("revoke-button").addEventListener("click", () =>
    act("revoke", "grant revoked: the next call gets 401 and the page asks to sign in again"),
  );
  if (location.pathname === CALLBACK_PATH) {
    const params = new URLSearchParams(location.search);
    history.replaceState(null, "", "/inspector"); // the code leaves the address bar
    const failed = await oauth.finish(params);
    if (failed) {
      log.add("error", `sign-in failed: ${failed}`);
      const problem = await oauth.problemOf(params.get("state"));
      if (problem) log.add("explain", problem);
      showSignIn("Sign-in failed", failed, problem);
      return;
    }
    log.add("oauth", "signed in: the tokens stay in this tab");
  } else if (!oauth.signedIn) {
    const problem = await oauth.lostSignIn();
    if (problem) {
      log.add("explain", problem);
      showSignIn("Sign-in failed", "The last sign-in did not come back to this page.", problem);
      return;
    }
  }
  if (!oauth.signedIn) {
    const challenge = await mcp.probe();
    if (challenge === null) {
      needsSignIn = false;
      await start();
      return;
    }
    await oauth.discover(challenge);
    showSignIn("Sign in");
    return;
  }
  await start();
}

main().catch(fail);
