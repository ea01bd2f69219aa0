// A small MCP client over streamable HTTP (protocol 2025-11-25, one session), logging
// every JSON-RPC message it sends and receives. A 401 means the token no longer works:
// it refreshes once, and when that fails the caller is told to sign in again.

import { SignInRequired } from "./oauth.js";

const PROTOCOL = "2025-11-25";

export class McpClient {
  constructor(url, oauth, log) {
    this.url = url;
    this.oauth = oauth;
    this.log = log;
    this.session = null;
    this.nextId = 1;
  }

  // The challenge of a request without a token (where discovery starts), or null when
  // this server needs no sign-in.
  async probe() {
    const response = await fetch(this.url, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify(this.message("initialize", this.initParams())),
    });
    this.log.add("recv", `POST /mcp without a token → ${response.status}`);
    if (response.status === 401) return response.headers.get("WWW-Authenticate") ?? "";
    this.session = response.headers.get("Mcp-Session-Id");
    return null;
  }

  initParams() {
    return {
      protocolVersion: PROTOCOL,
      capabilities: {},
      clientInfo: { name: "mcpbuild-inspector", version: "1" },
    };
  }

  message(method, params) {
    return { jsonrpc: "2.0", id: this.nextId++, method, params };
  }

  async connect() {
    this.session = null;
    const result = await this.request("initialize", this.initParams());
    await this.notify("notifications/initialized");
    return result;
  }

  async post(body, retried = false) {
    const headers = {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": PROTOCOL,
    };
    if (this.oauth.accessToken) headers.Authorization = `Bearer ${this.oauth.accessToken}`;
    if (this.session) headers["Mcp-Session-Id"] = this.session;
    const response = await fetch(this.url, {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers,
      body: JSON.stringify(body),
    });
    if (response.status === 401 && this.oauth.signedIn) {
      this.log.add("recv", `HTTP 401 for ${body.method}: the token no longer works`, await safeText(response));
      if (!retried && (await this.oauth.refresh())) return this.post(body, true);
      throw new SignInRequired("the sign-in has ended");
    }
    if (response.status === 401) throw new SignInRequired("sign-in required");
    if (response.status === 404 && this.session) {
      // The session is gone (the server restarted or closed it): start another.
      this.log.add("recv", "HTTP 404: the session is gone, opening a new one");
      this.session = null;
      if (body.method !== "initialize") await this.connect();
      return this.post(body, retried);
    }
    const opened = response.headers.get("Mcp-Session-Id");
    if (opened) this.session = opened;
    return response;
  }

  async request(method, params) {
    const body = this.message(method, params);
    this.log.add("send", summary(body), body);
    const response = await this.post(body);
    const reply = await readReply(response, body.id);
    if (reply === null) throw new Error(`${method}: HTTP ${response.status} without a JSON-RPC answer`);
    this.log.add("recv", summary(reply), reply);
    if (reply.error) throw new Error(`${method}: ${reply.error.message} (${reply.error.code})`);
    return reply.result;
  }

  async notify(method, params) {
    const body = { jsonrpc: "2.0", method, ...(params ? { params } : {}) };
    this.log.add("send", summary(body), body);
    const response = await this.post(body);
    this.log.add("recv", `HTTP ${response.status} for ${method}`);
  }
}

async function safeText(response) {
  try {
    return await response.text();
  } catch {
    return "";
  }
}

// JSON, or the matching `data:` line of a text/event-stream answer.
async function readReply(response, id) {
  const type = response.headers.get("Content-Type") ?? "";
  const text = await response.text();
  if (type.includes("text/event-stream")) {
    for (const block of text.split(/\r?\n\r?\n/)) {
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      try {
        const message = JSON.parse(data);
        if (message.id === id) return message;
      } catch {
        // not JSON: not ours
      }
    }
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function summary(message) {
  if (message.method === "tools/call") return `#${message.id} tools/call ${message.params?.name}`;
  if (message.method) return `${message.id !== undefined ? `#${message.id} ` : ""}${message.method}`;
  if (message.error) return `#${message.id} error ${message.error.code}: ${message.error.message}`;
  const result = message.result ?? {};
  if (Array.isArray(result.tools)) return `#${message.id} result: ${result.tools.length} tools`;
  if (result.content) return `#${message.id} result${result.isError ? " (tool error)" : ""}`;
  return `#${message.id} result`;
}
