// The inspector as a public OAuth client of this server: discovery from /mcp's 401,
// dynamic client registration (token_endpoint_auth_method "none"), authorization code
// with PKCE S256 through the consent page and the provider, and refresh. Tokens live in
// this tab's sessionStorage only; no request here carries a cookie.

const KEY = "mcpbuild.inspector.";
export const CALLBACK_PATH = "/inspector/callback";

export class SignInRequired extends Error {}

function load(name) {
  try {
    return JSON.parse(sessionStorage.getItem(KEY + name) ?? "null");
  } catch {
    return null;
  }
}

function save(name, value) {
  if (value === null) sessionStorage.removeItem(KEY + name);
  else sessionStorage.setItem(KEY + name, JSON.stringify(value));
}

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

export class OAuthClient {
  constructor(log) {
    this.log = log;
    this.origin = location.origin;
    this.redirectUri = this.origin + CALLBACK_PATH;
    this.resource = null;
    this.metadata = null;
    this.scopes = [];
    this.tokens = load("tokens");
  }

  get signedIn() {
    return this.tokens !== null;
  }

  get accessToken() {
    return this.tokens?.access_token ?? null;
  }

  get clientId() {
    return load("client")?.client_id ?? null;
  }

  async fetchJson(method, url, options = {}) {
    const started = performance.now();
    const response = await fetch(url, { method, credentials: "omit", cache: "no-store", ...options });
    const ms = Math.round(performance.now() - started);
    this.log.add("oauth", `${method} ${new URL(url).pathname} → ${response.status} (${ms} ms)`);
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { response, body };
  }

  // RFC 9728 then RFC 8414, starting from the challenge of an unauthenticated /mcp request.
  async discover(challenge) {
    let prmUrl = null;
    const match = /resource_metadata="([^"]+)"/.exec(challenge ?? "");
    if (match) prmUrl = match[1];
    prmUrl ??= this.origin + "/.well-known/oauth-protected-resource/mcp";
    const prm = (await this.fetchJson("GET", prmUrl)).body;
    if (!prm?.authorization_servers?.length) throw new Error("no protected resource metadata");
    this.resource = prm.resource;
    this.scopes = prm.scopes_supported ?? [];
    const issuer = prm.authorization_servers[0].replace(/\/$/, "");
    const { body } = await this.fetchJson("GET", issuer + "/.well-known/oauth-authorization-server");
    if (!body?.authorization_endpoint) throw new Error("no authorization server metadata");
    this.metadata = body;
    return body;
  }

  async register() {
    const known = load("client");
    if (known?.redirect_uri === this.redirectUri && known.client_id) return known.client_id;
    const { response, body } = await this.fetchJson("POST", this.metadata.registration_endpoint, {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        client_name: "mcpbuild inspector",
        redirect_uris: [this.redirectUri],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        scope: this.scopes.join(" "),
      }),
    });
    if (response.status !== 201 || !body?.client_id) {
      throw new Error(`registration refused: ${body?.error_description ?? response.status}`);
    }
    save("client", { client_id: body.client_id, redirect_uri: this.redirectUri });
    return body.client_id;
  }

  // Leaves the page: the browser goes to /authorize, the consent page and the provider.
  async authorize() {
    const clientId = await this.register();
    const verifier = randomString(48);
    const state = randomString(24);
    save("pending", { state, verifier, issuer: this.metadata.issuer, token_endpoint: this.metadata.token_endpoint, resource: this.resource });
    const url = new URL(this.metadata.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: this.redirectUri,
      scope: this.scopes.join(" "),
      state,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: "S256",
      resource: this.resource,
    }).toString();
    this.log.add("oauth", `GET ${url.pathname} (to the consent page)`);
    location.assign(url.toString());
  }

  // On /inspector/callback: check state and iss, exchange the code. Returns an error
  // description (the sign-in failed) or null.
  async finish(params) {
    const pending = load("pending");
    if (!pending || params.get("state") !== pending.state) {
      return "this answer does not belong to a sign-in started in this tab (state mismatch)";
    }
    if (params.has("error")) {
      save("pending", null);
      return `${params.get("error")}: ${params.get("error_description") ?? ""}`;
    }
    if (params.get("iss") && params.get("iss") !== pending.issuer) {
      return `the answer came from ${params.get("iss")}, not ${pending.issuer} (iss mismatch)`;
    }
    save("pending", null);
    const { response, body } = await this.fetchJson("POST", pending.token_endpoint, {
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: params.get("code") ?? "",
        redirect_uri: this.redirectUri,
        client_id: this.clientId ?? "",
        code_verifier: pending.verifier,
        resource: pending.resource,
      }),
    });
    if (response.status !== 200 || !body?.access_token) {
      return `the token endpoint refused the code: ${body?.error_description ?? response.status}`;
    }
    this.store(body, pending.token_endpoint, pending.resource);
    return null;
  }

  store(body, tokenEndpoint, resource) {
    this.tokens = {
      access_token: body.access_token,
      refresh_token: body.refresh_token ?? this.tokens?.refresh_token ?? null,
      expires_at: body.expires_in ? Date.now() / 1000 + body.expires_in : null,
      scope: body.scope ?? "",
      token_endpoint: tokenEndpoint,
      resource,
    };
    save("tokens", this.tokens);
  }

  // A new access token from the refresh token; false when the grant is over.
  async refresh() {
    const tokens = this.tokens;
    if (!tokens?.refresh_token) return false;
    const { response, body } = await this.fetchJson("POST", tokens.token_endpoint, {
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
        client_id: this.clientId ?? "",
        resource: tokens.resource,
      }),
    });
    if (response.status !== 200 || !body?.access_token) {
      this.log.add("error", `refresh refused: ${body?.error ?? response.status} ${body?.error_description ?? ""}`);
      this.forget();
      return false;
    }
    this.store(body, tokens.token_endpoint, tokens.resource);
    return true;
  }

  forget() {
    this.tokens = null;
    save("tokens", null);
  }

  // A sign-in that left for the provider and never came back: the server may know why.
  async lostSignIn() {
    const pending = load("pending");
    const clientId = this.clientId;
    if (!pending || !clientId) return null;
    save("pending", null);
    const { body } = await this.fetchJson("POST", this.origin + "/inspector/api/sign-in-problem", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: clientId, state: pending.state }),
    });
    return body?.problem ?? null;
  }

  async problemOf(state) {
    const clientId = this.clientId;
    if (!clientId || !state) return null;
    const { body } = await this.fetchJson("POST", this.origin + "/inspector/api/sign-in-problem", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: clientId, state }),
    });
    return body?.problem ?? null;
  }
}
