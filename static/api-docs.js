// The API's docs page: reads openapi.json (beside the page) and renders its operations, grouped
// by tag, with parameters, bodies, responses and examples, then its schemas. Hand-written and
// served by psserver; no framework, no build step, no network beyond this server.
"use strict";

(function () {
  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  const METHODS = ["get", "post", "put", "delete", "patch"];
  let doc = null;

  // --- tiny DOM helpers (text is always set as text: nothing from the document becomes markup
  // except through `markdown`, which escapes first) ---
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "html") node.innerHTML = v;
      else node.setAttribute(k, v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  // The little Markdown the descriptions use: paragraphs, "- " lists, `code` and **bold**.
  function inline(text) {
    return escapeHtml(text)
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
  }

  function markdown(text) {
    if (!text) return null;
    const blocks = String(text).trim().split(/\n\s*\n/).map((block) => {
      const lines = block.split("\n");
      if (lines.every((l) => /^\s*- |^\s{2,}\S/.test(l)) && /^\s*- /.test(lines[0])) {
        const items = [];
        for (const l of lines) {
          if (/^\s*- /.test(l)) items.push(l.replace(/^\s*- /, ""));
          else items[items.length - 1] += " " + l.trim();
        }
        return "<ul>" + items.map((i) => "<li>" + inline(i) + "</li>").join("") + "</ul>";
      }
      return "<p>" + inline(block) + "</p>";
    });
    return el("div", { class: "md", html: blocks.join("") });
  }

  function anchor(...parts) {
    return parts.join("-").replace(/[^A-Za-z0-9_-]+/g, "_");
  }

  function resolve(ref) {
    return ref.replace(/^#\//, "").split("/").reduce((node, key) => node && node[key], doc);
  }

  // --- schemas ---
  function refName(ref) {
    return ref.split("/").pop();
  }

  // A one-line type: `string (uuid)`, `Link[]`, `SourceView | null`, an enum's values.
  function typeOf(schema) {
    if (!schema) return el("span", { class: "type" }, "any");
    if (schema.$ref) {
      const name = refName(schema.$ref);
      return el("span", { class: "type" }, el("a", { href: "#" + anchor("schema", name) }, name));
    }
    const alternatives = schema.oneOf || schema.anyOf;
    if (alternatives) {
      const parts = alternatives.map(typeOf);
      return el("span", { class: "type" }, parts.flatMap((p, i) => (i ? [" | ", p] : [p])));
    }
    if (schema.allOf) {
      const parts = schema.allOf.map(typeOf);
      return el("span", { class: "type" }, parts.flatMap((p, i) => (i ? [" & ", p] : [p])));
    }
    let types = Array.isArray(schema.type) ? schema.type : [schema.type || "object"];
    const nullable = types.includes("null");
    types = types.filter((t) => t !== "null");
    let text = types.join(" | ");
    if (types[0] === "array") {
      return el("span", { class: "type" }, typeOf(schema.items), "[]", nullable ? " | null" : "");
    }
    if (schema.format) text += ` (${schema.format})`;
    if (schema.enum) text = schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (nullable) text += " | null";
    return el("span", { class: "type" }, text);
  }

  function constraints(schema) {
    const notes = [];
    if (schema.pattern) notes.push(el("div", {}, "pattern ", el("code", {}, schema.pattern)));
    if (schema.minimum !== undefined) notes.push(el("div", {}, `minimum ${schema.minimum}`));
    if (schema.maximum !== undefined) notes.push(el("div", {}, `maximum ${schema.maximum}`));
    if (schema.examples) {
      notes.push(el("div", {}, "e.g. ", schema.examples.map((e) => el("code", {}, JSON.stringify(e) + " "))));
    }
    if (schema.example !== undefined) notes.push(el("div", {}, "e.g. ", el("code", {}, JSON.stringify(schema.example))));
    return notes;
  }

  // The properties of an object schema as a table (with those of its allOf parts).
  function propertiesTable(schema) {
    const rows = [];
    const collect = (s) => {
      if (!s) return;
      if (s.$ref) s = resolve(s.$ref);
      for (const part of s.allOf || []) collect(part);
      const required = new Set(s.required || []);
      for (const [name, prop] of Object.entries(s.properties || {})) {
        rows.push(el("tr", {},
          el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "req" }, " required") : null),
          el("td", {}, typeOf(prop)),
          el("td", {}, markdown(prop.description), constraints(prop))));
      }
    };
    collect(schema);
    if (!rows.length) return null;
    return el("table", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Type"), el("th", {}, "Description")), rows);
  }

  function schemaBlock(schema) {
    if (!schema) return null;
    const target = schema.$ref ? resolve(schema.$ref) : schema;
    return el("div", {}, el("p", {}, typeOf(schema)), schema.$ref ? null : propertiesTable(target));
  }

  function examplesOf(media) {
    const out = [];
    if (media.example !== undefined) out.push(el("pre", {}, JSON.stringify(media.example, null, 2)));
    for (const [name, ex] of Object.entries(media.examples || {})) {
      const value = ex.$ref ? resolve(ex.$ref) : ex;
      out.push(el("div", {}, el("strong", {}, name), el("pre", {}, JSON.stringify(value.value, null, 2))));
    }
    return out;
  }

  function contentBlock(content) {
    return Object.entries(content || {}).map(([type, media]) => el("div", {},
      el("div", {}, el("code", {}, type)),
      type.includes("json") ? schemaBlock(media.schema) : null,
      examplesOf(media)));
  }

  // --- operations ---
  function security(op) {
    const reqs = op.security || doc.security || [];
    if (!reqs.length) return el("span", { class: "auth" }, "no credentials");
    const names = reqs.map((r) => Object.keys(r).join(" + ") || "none");
    return el("span", { class: "auth" }, "auth: " + names.join(" or "));
  }

  function parametersTable(params) {
    if (!params || !params.length) return null;
    return [el("h4", {}, "Parameters"), el("table", {},
      el("tr", {}, el("th", {}, "Name"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description")),
      params.map((p) => el("tr", {},
        el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, " required") : null),
        el("td", {}, p.in),
        el("td", {}, typeOf(p.schema)),
        el("td", {}, markdown(p.description), p.schema ? constraints(p.schema) : null, p.example !== undefined ? el("div", {}, "e.g. ", el("code", {}, String(p.example))) : null))))];
  }

  function responsesTable(responses) {
    return [el("h4", {}, "Responses"), el("table", {},
      Object.entries(responses || {}).map(([status, response]) => {
        const ref = response.$ref;
        const r = ref ? resolve(ref) : response;
        return el("tr", {},
          el("td", { class: `status s${status[0]}` }, status),
          el("td", {},
            ref ? el("div", {}, el("code", {}, refName(ref)), " ") : null,
            markdown(r.description),
            Object.keys(r.headers || {}).length
              ? el("div", {}, "Headers: ", Object.entries(r.headers).map(([h, v]) => el("span", {}, el("code", {}, h), " ", v.description || "", "; ")))
              : null,
            contentBlock(r.content)));
      }))];
  }

  function operation(path, method, op) {
    const id = anchor("op", op.operationId || method + path);
    return el("section", { class: "op", id },
      el("h3", {}, el("span", { class: "method " + method }, method), el("span", { class: "path" }, path),
        el("span", { class: "summary", html: inline(op.summary || "") }), security(op)),
      op.description && op.description !== op.summary ? markdown(op.description) : null,
      parametersTable(op.parameters),
      op.requestBody ? [el("h4", {}, "Request body" + (op.requestBody.required ? " (required)" : "")),
        markdown(op.requestBody.description), contentBlock(op.requestBody.content)] : null,
      responsesTable(op.responses));
  }

  function render() {
    document.title = doc.info.title + ": API";
    document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
    main.replaceChildren(markdown(doc.info.description) || "");
    nav.replaceChildren();

    const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || "other";
        if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
        byTag.get(tag).ops.push([path, method, op]);
      }
    }
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      nav.append(el("h2", {}, tag.name));
      main.append(el("h2", { class: "tag", id: anchor("tag", tag.name) }, tag.name), markdown(tag.description));
      for (const [path, method, op] of ops) {
        nav.append(el("a", { href: "#" + anchor("op", op.operationId || method + path) },
          el("span", { class: "method " + method }, method), " ", path.replace(/^\/MigrateApi\/[0-9.]+/, "")));
        main.append(operation(path, method, op));
      }
    }

    const components = doc.components || {};
    nav.append(el("h2", {}, "Schemas"));
    main.append(el("h2", { class: "tag", id: "schemas" }, "Schemas"));
    for (const [name, schema] of Object.entries(components.schemas || {})) {
      nav.append(el("a", { href: "#" + anchor("schema", name) }, name));
      main.append(el("section", { class: "schema", id: anchor("schema", name) },
        el("h3", {}, name, " ", typeOf({ ...schema, description: undefined, properties: undefined })),
        markdown(schema.description), constraints(schema), propertiesTable(schema)));
    }
    const schemes = Object.entries(components.securitySchemes || {});
    if (schemes.length) {
      main.append(el("h2", { class: "tag", id: "security" }, "Security schemes"),
        el("table", {}, schemes.map(([name, s]) => el("tr", {},
          el("td", {}, el("code", {}, name)), el("td", {}, `${s.type} ${s.scheme || ""}`), el("td", {}, markdown(s.description))))));
    }
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  fetch("openapi.json", { headers: { Accept: "application/json" } })
    .then((r) => {
      if (!r.ok) throw new Error(`openapi.json answered ${r.status}`);
      return r.json();
    })
    .then((json) => { doc = json; render(); })
    .catch((e) => main.replaceChildren(el("p", { class: "error" }, "Could not load the API description: " + e.message)));
})();
