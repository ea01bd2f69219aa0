// The live log: JSON-RPC messages this page sends and receives, its OAuth exchanges, and
// the server's events for this grant (upstream exchanges, token endpoint, explanations).
// Text only (textContent), never HTML; bounded to the last MAX_ENTRIES lines.

const MAX_ENTRIES = 500;

export class Log {
  constructor(list) {
    this.list = list;
  }

  clear() {
    this.list.replaceChildren();
  }

  // kind: send | recv | oauth | upstream | token | explain | action | error
  add(kind, text, detail) {
    const item = document.createElement("li");
    item.className = kind;
    const at = document.createElement("span");
    at.className = "at";
    at.textContent = new Date().toLocaleTimeString();
    const label = document.createElement("span");
    label.className = "kind";
    label.textContent = LABELS[kind] ?? kind;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(at, label, body);
    if (detail !== undefined) {
      const more = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "message";
      const pre = document.createElement("pre");
      pre.textContent = typeof detail === "string" ? detail : JSON.stringify(detail, null, 2);
      more.append(summary, pre);
      item.append(" ", more);
    }
    this.list.append(item);
    while (this.list.childElementCount > MAX_ENTRIES) this.list.firstElementChild.remove();
    this.list.scrollTop = this.list.scrollHeight;
  }

  // One event from /inspector/api/events.
  event(event) {
    if (event.kind === "upstream") {
      this.add("upstream", `${event.method} ${event.url} → ${event.status ?? "no answer"} (${event.ms} ms)`);
    } else if (event.kind === "token") {
      const what = event.grant_type ? ` ${event.grant_type}` : "";
      const error = event.error ? ` ${event.error}` : "";
      this.add("token", `${event.method} ${event.url}${what} → ${event.status ?? "no answer"}${error} (${event.ms} ms)`);
    } else {
      this.add(event.kind, event.text ?? JSON.stringify(event));
    }
  }
}

const LABELS = {
  send: "→ rpc",
  recv: "← rpc",
  oauth: "oauth",
  upstream: "upstream",
  token: "token",
  explain: "explained",
  action: "action",
  error: "error",
};
