// The official TypeScript MCP SDK client, driven over JSON lines by tests/auth/test_real_clients.py.
//
//   node ts_client.mjs MCP_URL [--sdk 1|2] [--mode legacy|auto] [--redirect-uri URI] [--refresh]
//                      [--client-metadata-url URL]
//
// It signs in with PKCE (an OAuthClientProvider keeping everything in memory), registering
// dynamically, or with --client-metadata-url identifying itself by that client ID metadata
// document URL (the provider's `clientMetadataUrl`, which both SDKs use instead of registering
// when the server's metadata says `client_id_metadata_document_supported: true`, and ignore
// otherwise). Where a person would be sent to a browser, it prints
//   {"event": "authorize", "url": ...}
// and reads the redirect back from stdin as one JSON line: {"code", "state", "iss"} (or
// {"error", ...}). Then it reconnects, lists the tools, calls list_notes and prints each result
// as a JSON line. With --refresh it then revokes its own access token (RFC 7009) and calls
// list_notes again, which the SDK can only answer by refreshing its tokens. The last line,
// {"event": "done", ...}, lists the requests made to the MCP server's origin other than to the
// MCP endpoint (discovery, /register, /token, ...) as "METHOD /path". Failures end in
// {"event": "error", "code": ..., "message": ...} and exit status 1 (`code` is the OAuth error
// code when the authorization response was an error). Logs go to stderr, never stdout.
//
// --sdk 1 is @modelcontextprotocol/sdk (1.x); --sdk 2 is @modelcontextprotocol/client (2.x),
// whose --mode auto speaks the 2026-07-28 stateless protocol when the server offers it.

import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sdk: { type: "string", default: "1" },
    mode: { type: "string", default: "legacy" },
    "redirect-uri": { type: "string", default: "http://127.0.0.1:33418/callback" },
    refresh: { type: "boolean", default: false },
    "client-metadata-url": { type: "string" },
  },
});
if (positionals.length !== 1) {
  throw new Error(`expected one MCP server URL, got ${JSON.stringify(positionals)}`);
}
const serverUrl = new URL(positionals[0]);

// Every request either SDK makes goes through the global fetch: record those to the
// authorization server (the MCP server's origin) before the SDK is loaded.
const authRequests = [];
const globalFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.origin === serverUrl.origin && url.pathname !== serverUrl.pathname) {
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    authRequests.push(`${method.toUpperCase()} ${url.pathname}`);
  }
  return globalFetch(input, init);
};

const sdk =
  opts.sdk === "2"
    ? await import("@modelcontextprotocol/client")
    : {
        ...(await import("@modelcontextprotocol/sdk/client/index.js")),
        ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
        ...(await import("@modelcontextprotocol/sdk/client/auth.js")),
      };
const { Client, StreamableHTTPClientTransport, UnauthorizedError } = sdk;

const emit = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function readLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error("stdin closed while waiting for the authorization response");
  return JSON.parse(value);
}

/** Everything in memory: client registration, tokens, PKCE verifier, discovery. */
class MemoryProvider {
  constructor(redirectUri, clientMetadataUrl) {
    this.redirectUri = redirectUri;
    this.clientMetadataUrl = clientMetadataUrl; // undefined: register dynamically
    this.expectedState = randomBytes(16).toString("base64url");
    this.saved = { client: undefined, tokens: undefined, verifier: undefined, discovery: undefined };
    this.tokenSaves = 0;
    this.redirects = 0;
    this.response = undefined; // the authorization response read from stdin
  }
  get redirectUrl() {
    return this.redirectUri;
  }
  get clientMetadata() {
    return {
      client_name: `mcpbuild test: TypeScript SDK ${opts.sdk}.x`,
      redirect_uris: [this.redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    return this.expectedState;
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.tokenSaves += 1;
    this.saved.tokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    if (!this.saved.verifier) throw new Error("no PKCE code verifier saved");
    return this.saved.verifier;
  }
  saveDiscoveryState(state) {
    this.saved.discovery = state;
  }
  discoveryState() {
    return this.saved.discovery;
  }
  invalidateCredentials(scope) {
    console.error(`ts_client: the SDK invalidated credentials: ${scope}`);
    if (scope === "all" || scope === "client") this.saved.client = undefined;
    if (scope === "all" || scope === "tokens") this.saved.tokens = undefined;
    if (scope === "all" || scope === "verifier") this.saved.verifier = undefined;
    if (scope === "all" || scope === "discovery") this.saved.discovery = undefined;
  }
  async redirectToAuthorization(url) {
    this.redirects += 1;
    emit("authorize", { url: url.toString() });
    this.response = await readLine();
  }
}

function connect(provider) {
  const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  const options = opts.sdk === "2" ? { versionNegotiation: { mode: opts.mode } } : {};
  const client = new Client({ name: "mcpbuild-ts-test", version: "0.0.0" }, options);
  return { client, transport };
}

/** The authorization server's metadata, as the SDK discovered it. */
function metadata(provider) {
  const found = provider.saved.discovery?.authorizationServerMetadata;
  if (!found) throw new Error("the SDK saved no authorization server metadata");
  return found;
}

async function finishAuth(provider, transport) {
  const response = provider.response;
  if (!response) throw new Error("the SDK asked for no authorization, yet the server refused us");
  if (response.state !== provider.expectedState) {
    throw new Error(`expected state ${provider.expectedState}, got ${response.state}`);
  }
  if (opts.sdk === "2") {
    // 2.x checks RFC 9207 `iss` itself, against the issuer it recorded at redirect time, before
    // it reads `code` or `error`.
    await transport.finishAuth(new URLSearchParams(response));
    return;
  }
  // 1.x takes the code only: check `iss` as RFC 9207 asks, error responses included.
  const meta = metadata(provider);
  if (meta.authorization_response_iss_parameter_supported && response.iss !== meta.issuer) {
    throw new Error(`expected iss ${meta.issuer}, got ${response.iss}`);
  }
  if (response.error) {
    throw Object.assign(new Error(response.error_description ?? response.error), {
      code: response.error,
    });
  }
  await transport.finishAuth(response.code);
}

async function revokeAccessToken(provider) {
  const endpoint = metadata(provider).revocation_endpoint;
  if (!endpoint) throw new Error("the authorization server has no revocation_endpoint");
  const answer = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      token: provider.saved.tokens.access_token,
      token_type_hint: "access_token",
      client_id: provider.saved.client.client_id,
      // RFC 7009 has a public client send client_id alone; mcpbuild's /revoke (the Python
      // SDK's handler) answers that with 400 "client_secret: Field required" (DESIGN.md 7).
      client_secret: "",
    }),
  });
  if (!answer.ok) throw new Error(`revocation answered ${answer.status}: ${await answer.text()}`);
}

async function callTool(client, name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  emit("call", { name, result });
  return result;
}

async function main() {
  const provider = new MemoryProvider(opts["redirect-uri"], opts["client-metadata-url"]);
  let { client, transport } = connect(provider);
  try {
    await client.connect(transport);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await finishAuth(provider, transport);
    await client.close();
    ({ client, transport } = connect(provider));
    await client.connect(transport);
  }
  emit("connected", {
    client_id: provider.saved.client?.client_id,
    scope: provider.saved.tokens?.scope,
    protocol: transport.protocolVersion ?? client.getServerVersion?.()?.protocolVersion ?? null,
  });
  const tools = await client.listTools();
  emit("tools", { names: tools.tools.map((tool) => tool.name) });
  await callTool(client, "list_notes");

  if (opts.refresh) {
    const before = { ...provider.saved.tokens };
    const saves = provider.tokenSaves;
    await revokeAccessToken(provider);
    await callTool(client, "list_notes");
    const after = provider.saved.tokens;
    emit("refreshed", {
      token_saves: provider.tokenSaves - saves,
      access_token_changed: after.access_token !== before.access_token,
      refresh_token_rotated: after.refresh_token !== before.refresh_token,
    });
  }
  emit("done", { redirects: provider.redirects, requests: authRequests });
  await client.close();
}

try {
  await main();
  process.exit(0);
} catch (error) {
  emit("error", { code: error?.code ?? null, message: String(error?.stack ?? error) });
  process.exit(1);
}
