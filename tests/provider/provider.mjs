// A real OAuth 2.0 authorization server for tests: oidc-provider on 127.0.0.1.
//
//   node tests/provider/provider.mjs CONFIG.json      (or PROVIDER_CONFIG=CONFIG.json)
//
// CONFIG (JSON; every key but "client" is optional):
//   port                  listen port on 127.0.0.1; 0 (default) = any free port
//   issuer                default http://127.0.0.1:<actual port>
//   client                {client_id, client_secret, redirect_uris: [...],
//                          token_endpoint_auth_method: client_secret_basic | client_secret_post}
//                          (both secret methods are accepted whatever is registered)
//   scopes                default ["notes.read", "notes.write"]; "openid", "offline_access",
//                          "profile", "email" are OIDC scopes, all others are resource scopes
//                          of the one resource server below
//   resource              resource indicator of that server, default "urn:mcpbuild:test:notes";
//                          it is the default resource, so clients need not send `resource`
//   access_token_ttl      seconds, default 2
//   refresh_token_ttl     seconds, default 86400
//   auto_login            user name: interactions finish login and consent at once (headless);
//                          null (default): HTML forms, see the /interaction routes below
//   exit_on_stdin_eof     exit when stdin closes (the parent test process died)
//
// Prints one line `READY <issuer>` on stdout once listening. Logs nothing secret.
//
// Interactions (at /interaction/:uid, with the cookies the provider set):
//   GET  /interaction/:uid          auto mode: finishes the step and 303s back;
//                                   form mode: a login form or an approve form
//   POST /interaction/:uid/login    form field login=<user>
//   POST /interaction/:uid/confirm  grants every requested scope
//   POST /interaction/:uid/abort    the user denies: access_denied
//
// Test controls (answer only to 127.0.0.1):
//   GET  /test/stats                counters (see `stats` below) as JSON
//   POST /test/reset-stats
//   POST /test/revoke-user          {"user": "alice"}: destroys every grant of the user and
//                                   every token of those grants (refresh -> invalid_grant)
//   POST /test/auto-login           {"user": "bob"} or {"user": null}: switch the mode at run time
//   POST /test/redirect-uris        {"redirect_uris": [...]}: extra allowed redirect URIs for
//                                   the client (for servers whose port is known only later)
//   POST /test/access-token-ttl     {"seconds": 60}: TTL of access tokens issued from now on

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const configPath = process.argv[2] ?? process.env.PROVIDER_CONFIG;
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json (or PROVIDER_CONFIG=CONFIG.json)');
  process.exit(2);
}
const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
if (!cfg.client?.client_id || !cfg.client?.client_secret) {
  console.error('config: client.client_id and client.client_secret are required');
  process.exit(2);
}

const OIDC_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);
const scopes = cfg.scopes ?? ['notes.read', 'notes.write'];
const resourceScopes = scopes.filter((s) => !OIDC_SCOPES.has(s));
const oidcScopes = [...new Set(['openid', 'offline_access', ...scopes.filter((s) => OIDC_SCOPES.has(s))])];
const RESOURCE = cfg.resource ?? 'urn:mcpbuild:test:notes';
let accessTokenTTL = cfg.access_token_ttl ?? 2;
const refreshTokenTTL = cfg.refresh_token_ttl ?? 86400;
let autoLogin = cfg.auto_login ?? null;
const extraRedirectUris = new Set();
const USER_RE = /^[\w.@-]{1,64}$/u;

// ---------------------------------------------------------------- storage
// A plain in-memory adapter (instead of the bundled LRU one) so that the grants of a user
// can be enumerated and revoked.

const store = new Map(); // "Model:id" -> {payload, expiresAt}
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    return live(this.key(id));
  }

  async findByUid(uid) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.uid === uid) return live(key);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.userCode === userCode) return live(key);
    }
    return undefined;
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.grantId === grantId) store.delete(key);
    }
  }
}

function revokeUser(user) {
  const grantIds = [];
  for (const [key, { payload }] of store) {
    if (key.startsWith('Grant:') && payload.accountId === user) grantIds.push(key.slice(6));
  }
  for (const grantId of grantIds) {
    store.delete(`Grant:${grantId}`);
    for (const [key, { payload }] of store) {
      if (GRANTABLE.has(key.slice(0, key.indexOf(':'))) && payload.grantId === grantId) {
        store.delete(key);
      }
    }
  }
  return grantIds.length;
}

// ---------------------------------------------------------------- counters

function newStats() {
  return {
    token_requests: {}, // grant_type -> count of POST /token
    token_errors: {}, // grant_type -> count of those that did not answer 200
    authorization_requests: 0,
    introspection_requests: 0,
    revocation_requests: 0,
  };
}
let stats = newStats();

// ---------------------------------------------------------------- provider

function signingKey() {
  // Only ID tokens (scope openid) are signed; access tokens are opaque.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
}

const configuration = {
  adapter: TestAdapter,
  clients: [
    {
      client_id: cfg.client.client_id,
      client_secret: cfg.client.client_secret,
      redirect_uris: cfg.client.redirect_uris ?? ['http://127.0.0.1/oauth/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: cfg.client.token_endpoint_auth_method ?? 'client_secret_basic',
    },
  ],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: [signingKey()] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: oidcScopes,
  claims: { openid: ['sub'] },
  responseTypes: ['code'],
  allowOmittingSingleRegisteredRedirectUri: false,
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  // PKCE (S256 is the only method oidc-provider 9 knows) for every client.
  pkce: { required: () => true },
  // A refresh token for every authorization_code grant: no offline_access, no prompt=consent.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Rotation: every refresh consumes the refresh token and issues a new one; presenting a
  // consumed one is invalid_grant (and oidc-provider then revokes the whole grant).
  rotateRefreshToken: true,
  // Tokens live by their own TTLs, not by the provider's browser session.
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: () => accessTokenTTL,
    AuthorizationCode: 60,
    ClientCredentials: 60,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
    PreAuthorizedCode: 600,
    IdToken: 3600,
    RefreshToken: () => refreshTokenTTL,
    Interaction: 600,
    Session: 86400,
    Grant: 86400 * 30,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    // Plain OAuth scopes are resource scopes of one resource server, which is the default
    // resource; its access tokens are opaque (so the API must introspect them).
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => {
        if (oneOf) return oneOf.includes(RESOURCE) || oneOf.length !== 1 ? RESOURCE : oneOf[0];
        return RESOURCE;
      },
      // Also at the token endpoint when `openid` was requested (otherwise the token would be
      // for userinfo only, without the resource scopes).
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: resourceScopes.join(' '),
          audience: RESOURCE,
          accessTokenTTL,
          accessTokenFormat: 'opaque',
        };
      },
    },
  },
};

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(cfg.port ?? 0, '127.0.0.1', resolve);
});
const issuer = cfg.issuer ?? `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, configuration);

const allowRedirect = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  return allowRedirect.call(this, value)
    || (this.clientId === cfg.client.client_id && extraRedirectUris.has(value));
};

provider.on('server_error', (_ctx, err) => {
  console.error(`provider server_error: ${err?.name}: ${err?.message}`);
});

// ---------------------------------------------------------------- routes

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

async function readBody(ctx) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 65536) ctx.throw(413);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((ctx.get('content-type') || '').startsWith('application/json')) {
    return text ? JSON.parse(text) : {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function requestedScopes(details) {
  const p = details.prompt.details;
  const out = [...(p.missingOIDCScope ?? [])];
  for (const list of Object.values(p.missingResourceScopes ?? {})) out.push(...list);
  return out;
}

async function finish(ctx, result, merge) {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: merge,
  });
  ctx.status = 303;
  ctx.set('Location', returnTo);
  ctx.body = '';
}

async function consent(details) {
  const { params, session } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const existing = Boolean(grant);
  grant ??= new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const p = details.prompt.details;
  if (p.missingOIDCScope) grant.addOIDCScope(p.missingOIDCScope.join(' '));
  if (p.missingOIDCClaims) grant.addOIDCClaims(p.missingOIDCClaims);
  for (const [indicator, list] of Object.entries(p.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, list.join(' '));
  }
  const grantId = await grant.save();
  return { consent: existing ? {} : { grantId } };
}

async function interaction(ctx, uid, action) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const prompt = details.prompt.name;

  if (action === undefined && ctx.method === 'GET') {
    if (autoLogin !== null) {
      if (prompt === 'login') {
        return finish(ctx, { login: { accountId: autoLogin } }, false);
      }
      return finish(ctx, await consent(details), true);
    }
    const base = `/interaction/${esc(uid)}`;
    if (prompt === 'login') {
      ctx.type = 'html';
      ctx.body = page('Sign in', `<form method="post" action="${base}/login">`
        + '<label>User <input name="login" autocomplete="username" autofocus></label> '
        + '<button type="submit">Sign in</button></form>'
        + `<form method="post" action="${base}/abort"><button type="submit">Cancel</button></form>`);
      return undefined;
    }
    ctx.type = 'html';
    const items = requestedScopes(details).map((s) => `<li>${esc(s)}</li>`).join('');
    ctx.body = page('Authorize', `<p>Client <b>${esc(details.params.client_id)}</b> asks `
      + `user <b>${esc(details.session?.accountId)}</b> for:</p><ul>${items}</ul>`
      + `<form method="post" action="${base}/confirm"><button type="submit">Approve</button></form>`
      + `<form method="post" action="${base}/abort"><button type="submit">Deny</button></form>`);
    return undefined;
  }

  if (ctx.method !== 'POST') ctx.throw(405);
  if (action === 'login') {
    if (prompt !== 'login') ctx.throw(400, 'not a login step');
    const { login } = await readBody(ctx);
    if (typeof login !== 'string' || !USER_RE.test(login)) ctx.throw(400, 'bad login');
    return finish(ctx, { login: { accountId: login } }, false);
  }
  if (action === 'confirm') {
    if (prompt !== 'consent') ctx.throw(400, 'not a consent step');
    return finish(ctx, await consent(details), true);
  }
  if (action === 'abort') {
    return finish(ctx, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, false);
  }
  return ctx.throw(404);
}

function isLoopback(ctx) {
  const addr = ctx.req.socket.remoteAddress;
  return addr === '127.0.0.1' || addr === '::ffff:127.0.0.1' || addr === '::1';
}

async function testControl(ctx) {
  if (!isLoopback(ctx)) ctx.throw(403);
  const route = `${ctx.method} ${ctx.path}`;
  ctx.type = 'json';
  switch (route) {
    case 'GET /test/stats':
      ctx.body = stats;
      return;
    case 'POST /test/reset-stats':
      stats = newStats();
      ctx.body = stats;
      return;
    case 'POST /test/revoke-user': {
      const { user } = await readBody(ctx);
      if (typeof user !== 'string') ctx.throw(400, 'user required');
      ctx.body = { revoked_grants: revokeUser(user) };
      return;
    }
    case 'POST /test/auto-login': {
      const { user } = await readBody(ctx);
      if (user !== null && (typeof user !== 'string' || !USER_RE.test(user))) {
        ctx.throw(400, 'user must be a user name or null');
      }
      autoLogin = user;
      ctx.body = { auto_login: autoLogin };
      return;
    }
    case 'POST /test/access-token-ttl': {
      const { seconds } = await readBody(ctx);
      if (!Number.isSafeInteger(seconds) || seconds <= 0) ctx.throw(400, 'seconds: positive integer');
      accessTokenTTL = seconds;
      ctx.body = { access_token_ttl: accessTokenTTL };
      return;
    }
    case 'POST /test/redirect-uris': {
      const { redirect_uris: uris } = await readBody(ctx);
      if (!Array.isArray(uris) || !uris.every((u) => typeof u === 'string')) {
        ctx.throw(400, 'redirect_uris must be a list of strings');
      }
      extraRedirectUris.clear();
      for (const u of uris) extraRedirectUris.add(u);
      ctx.body = { redirect_uris: [...extraRedirectUris] };
      return;
    }
    default:
      ctx.throw(404);
  }
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/test/')) return testControl(ctx);

  const m = INTERACTION.exec(ctx.path);
  if (m) {
    ctx.set('Cache-Control', 'no-store');
    try {
      return await interaction(ctx, m[1], m[2]);
    } catch (err) {
      ctx.status = err.status ?? err.statusCode ?? 500;
      ctx.type = 'text';
      ctx.body = `${err.error ?? err.name}: ${err.error_description ?? err.message}`;
      return undefined;
    }
  }

  // RFC 8414 metadata at its own well-known path, too.
  if (ctx.path === '/.well-known/oauth-authorization-server') {
    ctx.path = '/.well-known/openid-configuration';
  }

  await next();

  const route = ctx.oidc?.route;
  if (route === 'discovery' && ctx.status === 200 && ctx.body?.scopes_supported) {
    ctx.body.scopes_supported = [...new Set([...ctx.body.scopes_supported, ...resourceScopes])];
  } else if (route === 'token') {
    const gty = ctx.oidc.params?.grant_type ?? 'unknown';
    stats.token_requests[gty] = (stats.token_requests[gty] ?? 0) + 1;
    if (ctx.status !== 200) stats.token_errors[gty] = (stats.token_errors[gty] ?? 0) + 1;
  } else if (route === 'authorization') {
    stats.authorization_requests += 1;
  } else if (route === 'introspection') {
    stats.introspection_requests += 1;
  } else if (route === 'revocation') {
    stats.revocation_requests += 1;
  }
  return undefined;
});

server.on('request', provider.callback());

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (cfg.exit_on_stdin_eof) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

process.stdout.write(`READY ${issuer}\n`);
