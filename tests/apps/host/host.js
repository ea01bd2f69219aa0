// The MCP Apps host of tests/apps/test_views_browser.py, bundled with esbuild into
// tests/apps/build/host.js. It does what a chat client that renders MCP Apps does, with the
// official packages: the TypeScript SDK's Client over streamable HTTP to /mcp on this page's
// own origin, and ext-apps' AppBridge talking to the view in a sandboxed iframe.
//
//   await hostApi.open(tool, args, theme)  calls the tool, reads its ui:// resource, renders
//                                          it, and resolves when the view has initialized
//                                          and has the tool's input and result
//   hostApi.setTheme(theme)                changes the host context's theme (light | dark)
//   hostLog                                what happened: the view's tool calls and their
//                                          results, links it asked to open, errors
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  getToolUiResourceUri,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST_INFO = { name: "mcpbuild-test-host", version: "0.0.0" };
const UI_EXTENSION = "io.modelcontextprotocol/ui";
const MAX_HEIGHT = 600;

const hostLog = {
  opened: [], // {tool, arguments, resourceUri, mimeType, csp, toolMeta, result}
  calls: [], // tools/call requests from the view: {name, arguments}
  results: [], // their results, in the same order
  links: [], // ui/open-link URLs
  logs: [], // notifications/message from the view
  sizes: [], // ui/notifications/size-changed
  errors: [], // anything that went wrong in this page
};
window.hostLog = hostLog;
window.addEventListener("error", (e) => hostLog.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => hostLog.errors.push(String(e.reason)));

const connected = (async () => {
  const client = new Client(HOST_INFO, {
    capabilities: { extensions: { [UI_EXTENSION]: { mimeTypes: [RESOURCE_MIME_TYPE] } } },
  });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  return client;
})();

let bridge = null;
let hostContext = null;

let toolList = null; // tools/list, once per page (the tests' server does not change it)

async function listTools(client) {
  if (toolList) return toolList;
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  toolList = tools;
  return tools;
}

async function open(toolName, args = {}, wantedTheme = "light") {
  const client = await connected;
  document.body.dataset.theme = wantedTheme;
  const tool = (await listTools(client)).find((t) => t.name === toolName);
  if (!tool) throw new Error(`no tool ${toolName}`);
  const resourceUri = getToolUiResourceUri(tool);
  if (!resourceUri) throw new Error(`tool ${toolName} has no _meta.ui.resourceUri`);
  const result = await client.callTool({ name: toolName, arguments: args });
  const read = await client.readResource({ uri: resourceUri });
  const resource = read.contents.find((c) => c.uri === resourceUri) ?? read.contents[0];
  hostLog.opened.push({
    tool: toolName,
    arguments: args,
    resourceUri,
    mimeType: resource.mimeType,
    csp: resource._meta?.ui?.csp ?? null,
    toolMeta: tool._meta ?? null,
    result,
  });
  if (resource.mimeType !== RESOURCE_MIME_TYPE) {
    throw new Error(`${resourceUri} is ${resource.mimeType}, not ${RESOURCE_MIME_TYPE}`);
  }

  if (bridge) await bridge.close();
  const iframe = document.createElement("iframe");
  iframe.id = "view";
  iframe.title = toolName;
  iframe.setAttribute("sandbox", "allow-scripts");
  document.getElementById("host").replaceChildren(iframe);

  hostContext = {
    theme: wantedTheme,
    platform: "web",
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    locale: navigator.language,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
  bridge = new AppBridge(
    client,
    HOST_INFO,
    { openLinks: {}, serverTools: {}, logging: {} },
    { hostContext },
  );
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = resolve;
  });
  bridge.onopenlink = async ({ url }) => {
    hostLog.links.push(url); // recorded, never followed
    return {};
  };
  bridge.onloggingmessage = (params) => hostLog.logs.push(params);
  bridge.onsizechange = (params) => {
    hostLog.sizes.push(params);
    // As chat hosts do: the frame as tall as the view, up to a limit.
    if (params.height) iframe.style.height = `${Math.min(Math.ceil(params.height), MAX_HEIGHT)}px`;
  };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  // After connect, which installs plain forwarding: the same call to the server, recorded.
  bridge.oncalltool = async (params, extra) => {
    hostLog.calls.push({ name: params.name, arguments: params.arguments ?? {} });
    const answer = await client.callTool(params, { signal: extra.mcpReq.signal });
    hostLog.results.push(answer);
    return answer;
  };
  iframe.srcdoc = resource.text;
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
  return { resourceUri, isError: Boolean(result.isError) };
}

function setTheme(theme) {
  document.body.dataset.theme = theme;
  hostContext = { ...hostContext, theme };
  bridge?.setHostContext(hostContext);
}

window.hostApi = { open, setTheme, connected: connected.then(() => true) };
