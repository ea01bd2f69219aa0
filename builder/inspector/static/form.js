// A form for a tool's inputSchema: strings, numbers, integers, booleans, enums and arrays
// of those get their own inputs; anything else a JSON textarea. Values the user leaves
// empty are not sent, so the server's defaults apply.

const SCALARS = new Set(["string", "number", "integer", "boolean"]);

function typeOf(schema) {
  const type = schema?.type;
  if (Array.isArray(type)) return type.find((t) => t !== "null") ?? "string";
  if (type) return type;
  if (Array.isArray(schema?.enum)) return typeof schema.enum[0] === "number" ? "number" : "string";
  return null;
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (value !== undefined && value !== null) node[key] = value;
  }
  node.append(...children);
  return node;
}

function inputFor(name, schema, required, id) {
  const type = typeOf(schema);
  const hint = schema.default !== undefined ? `default: ${JSON.stringify(schema.default)}` : "";
  if (Array.isArray(schema.enum)) {
    const select = element("select", { id, name });
    if (!required) select.append(element("option", { value: "", textContent: "(not set)" }));
    for (const value of schema.enum) {
      select.append(element("option", { value: JSON.stringify(value), textContent: String(value) }));
    }
    return [select, (node) => (node.value === "" ? undefined : JSON.parse(node.value))];
  }
  if (type === "boolean") {
    const select = element("select", { id, name });
    if (!required) select.append(element("option", { value: "", textContent: "(not set)" }));
    select.append(element("option", { value: "true", textContent: "true" }));
    select.append(element("option", { value: "false", textContent: "false" }));
    return [select, (node) => (node.value === "" ? undefined : node.value === "true")];
  }
  if (type === "integer" || type === "number") {
    const input = element("input", {
      id,
      name,
      type: "number",
      step: type === "integer" ? "1" : "any",
      placeholder: hint,
    });
    if (schema.minimum !== undefined) input.min = schema.minimum;
    if (schema.maximum !== undefined) input.max = schema.maximum;
    return [input, (node) => {
      if (node.value === "") return undefined;
      const value = Number(node.value);
      if (!Number.isFinite(value) || (type === "integer" && !Number.isInteger(value))) {
        throw new Error(`${name}: expected ${type === "integer" ? "an integer" : "a number"}`);
      }
      return value;
    }];
  }
  if (type === "string") {
    const long = (schema.maxLength ?? 0) > 200 || /body|text|description|content/i.test(name);
    const input = long
      ? element("textarea", { id, name, placeholder: hint })
      : element("input", { id, name, type: "text", placeholder: hint });
    return [input, (node) => (node.value === "" ? undefined : node.value)];
  }
  const itemType = type === "array" ? typeOf(schema.items) : null;
  if (itemType && SCALARS.has(itemType) && !Array.isArray(schema.items?.enum)) {
    const area = element("textarea", { id, name, placeholder: "one value per line" });
    return [area, (node) => {
      const lines = node.value.split("\n").map((line) => line.trim()).filter(Boolean);
      if (!lines.length) return undefined;
      return lines.map((line) => {
        if (itemType === "string") return line;
        if (itemType === "boolean") {
          if (line !== "true" && line !== "false") throw new Error(`${name}: expected true or false, got ${line}`);
          return line === "true";
        }
        const value = Number(line);
        if (!Number.isFinite(value) || (itemType === "integer" && !Number.isInteger(value))) {
          throw new Error(`${name}: expected ${itemType} values, got ${line}`);
        }
        return value;
      });
    }];
  }
  const area = element("textarea", { id, name, placeholder: "JSON" });
  return [area, (node) => {
    if (node.value.trim() === "") return undefined;
    try {
      return JSON.parse(node.value);
    } catch {
      throw new Error(`${name}: not valid JSON`);
    }
  }];
}

// A <details> block with the tool's form; onCall(name, args) runs on submit.
export function toolForm(tool, onCall) {
  const schema = tool.inputSchema ?? {};
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const readers = [];
  const form = element("form", { className: "tool-form", noValidate: true });
  form.dataset.tool = tool.name;
  for (const [name, property] of Object.entries(properties)) {
    const id = `arg-${tool.name}-${name}`;
    const [input, read] = inputFor(name, property ?? {}, required.has(name), id);
    const label = element("label", { htmlFor: id, textContent: name, title: property?.description ?? "" });
    if (required.has(name)) label.classList.add("required");
    form.append(label, input);
    readers.push([name, input, read]);
  }
  const error = element("div", { className: "error", role: "alert" });
  const button = element("button", { type: "submit", textContent: `Call ${tool.name}` });
  const actions = element("div", { className: "actions" }, button);
  form.append(error, actions);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const args = {};
    try {
      for (const [name, input, read] of readers) {
        const value = read(input);
        if (value === undefined) {
          if (required.has(name)) throw new Error(`${name} is required`);
        } else {
          args[name] = value;
        }
      }
    } catch (problem) {
      error.textContent = problem.message;
      return;
    }
    button.disabled = true;
    try {
      await onCall(tool.name, args);
    } finally {
      button.disabled = false;
    }
  });
  const title = element("summary", {}, element("b", { textContent: tool.name }), ` — ${tool.description ?? ""}`);
  const block = element("details", { className: "tool" }, title, form);
  block.dataset.tool = tool.name;
  return block;
}
