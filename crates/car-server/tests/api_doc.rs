//! `docs/api.md` is made from the OpenAPI document (`car_server::openapi()`,
//! what `GET /api/v1/openapi.json` serves): this test fails when the file
//! is out of date, and `scripts/api-doc.sh` (this test with
//! `CAR_API_DOC_WRITE=1`) writes it again.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// One line of a description (table cells hold no newline).
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// A schema as a short type: `Name`, `[Type]`, `string`, `object`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return format!("`{}`", r.rsplit('/').next().unwrap_or(r));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let kinds: Vec<String> = one.iter().map(type_of).collect();
        return kinds.join(" or ");
    }
    let ty = match schema.get("type") {
        Some(Value::Array(t)) => t.iter().map(s).collect::<Vec<_>>().join(" or "),
        Some(t) => s(t).to_string(),
        None => "any".to_string(),
    };
    match schema.get("items") {
        Some(items) => format!("[{}]", type_of(items)),
        None => ty,
    }
}

/// An operation's doc comment: its summary, then its description.
fn op_text(op: &Value) -> String {
    let text = format!("{} {}", s(&op["summary"]), s(&op["description"]));
    text.trim().to_string()
}

fn render(doc: &Value) -> String {
    let mut out = String::new();
    let info = &doc["info"];
    let _ = writeln!(out, "# The HTTP API of `car serve`\n");
    let _ = writeln!(
        out,
        "<!-- Made by scripts/api-doc.sh from the OpenAPI document (GET /api/v1/openapi.json); do not edit. -->\n"
    );
    let _ = writeln!(out, "{}\n", one_line(s(&info["description"])));
    let _ = writeln!(
        out,
        "Every route but `GET /health` and `GET /auth/link` needs `Authorization: Bearer <token>` when the server has a token, \
         or a browser session's cookie (from a one-time link; a state-changing request with it must carry the server's `Origin`); \
         a WebSocket may offer the token as the subprotocol `car.token.<token>` instead. \
         An action token (`car_act.<id>.<scopes>.<expiry>.<mac>`, the bearer of a notification's buttons) is taken only for \
         `POST /api/v1/repos/{{id}}/loop/resume`, `.../loop/stop` and `.../reply` of its own repository, each as its scopes allow: \
         anything else gets 403 naming its scopes, a changed or expired one 401. \
         A user token (`car_u_<id>_<secret>`, from `car serve tokens create`) acts as its user with its scope: \
         `read` (every `GET` but a repository's `config`, its `terminals` and the `sessions`), `reply` (also \
         `POST .../reply`, `.../loop/resume` and `.../voice/transcribe`), `tasks` (also spawning, answering and cancelling \
         its user's own Codex tasks) or `admin` (everything, starting and cancelling commands too); a route beyond its \
         scope gets 403 naming the scope needed, an unknown, expired or revoked one 401 saying which. Below `admin` it \
         lists and reaches only its user's tasks and commands (another user's answer 404, so ids do not leak), and \
         `events`, `stream`, `ws` and `/api/v1/stream` leave out the `task_*` and `exec_*` events of other users' tasks \
         and commands; one confined to a repository gets 403 elsewhere. \
         Errors are `{{\"error\": {{\"kind\", \"message\", \"hint\"}}}}`. Paths are relative to the base path. \
         State-changing requests (`POST`, `PUT`, `DELETE`) are limited to `server.rate_limit_per_minute` (default 60, \
         in bursts of up to 20) per user token's user, per token, or per peer without one: more get 429 with `Retry-After`; each one answered \
         is recorded in the repository's event ledger as an `audit` event.\n"
    );
    let _ = writeln!(out, "## Routes\n");
    let _ = writeln!(out, "| Method | Path | What |");
    let _ = writeln!(out, "|---|---|---|");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut ops = Vec::new();
    for (path, item) in &paths {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((path.clone(), m, op.clone()));
            }
        }
    }
    for (path, m, op) in &ops {
        let text = op_text(op);
        let first = text.split("\n\n").next().unwrap_or("");
        let _ = writeln!(
            out,
            "| {} | `{path}` | {} |",
            m.to_uppercase(),
            one_line(first)
        );
    }
    for (path, m, op) in &ops {
        let _ = writeln!(out, "\n## {} `{path}`\n", m.to_uppercase());
        let _ = writeln!(out, "{}\n", op_text(op));
        if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
            let _ = writeln!(out, "| Parameter | In | Type | Required | What |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for p in params {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} |",
                    s(&p["name"]),
                    s(&p["in"]),
                    type_of(&p["schema"]),
                    if p["required"].as_bool() == Some(true) {
                        "yes"
                    } else {
                        "no"
                    },
                    one_line(s(&p["description"]))
                );
            }
            out.push('\n');
        }
        if let Some(body) = op.get("requestBody") {
            let content = body["content"].as_object().cloned().unwrap_or_default();
            for (ct, media) in content {
                let _ = writeln!(
                    out,
                    "Body ({ct}{}): {}\n",
                    if body["required"].as_bool() == Some(true) {
                        ""
                    } else {
                        ", optional"
                    },
                    type_of(&media["schema"])
                );
            }
        }
        let _ = writeln!(out, "| Status | Body | What |");
        let _ = writeln!(out, "|---|---|---|");
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .and_then(|c| c.iter().next())
                .map(|(ct, media)| match media.get("schema") {
                    Some(schema) => type_of(schema),
                    None => format!("`{ct}`"),
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {status} | {body} | {} |",
                one_line(s(&r["description"]))
            );
        }
    }
    let _ = writeln!(out, "\n## Bodies\n");
    let schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, schema) in schemas {
        let _ = writeln!(out, "### `{name}`\n");
        let desc = s(&schema["description"]).trim();
        if !desc.is_empty() {
            let _ = writeln!(out, "{desc}\n");
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().map(s).collect())
            .unwrap_or_default();
        if let Some(props) = schema["properties"].as_object() {
            let _ = writeln!(out, "| Field | Type | Required | What |");
            let _ = writeln!(out, "|---|---|---|---|");
            for (field, p) in props {
                let _ = writeln!(
                    out,
                    "| `{field}` | {} | {} | {} |",
                    type_of(p),
                    if required.contains(&field.as_str()) {
                        "yes"
                    } else {
                        "no"
                    },
                    one_line(s(&p["description"]))
                );
            }
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[test]
fn docs_api_md_is_made_from_the_openapi_document() {
    let doc = serde_json::to_value(car_server::openapi()).unwrap_or_default();
    let text = render(&doc);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    if std::env::var_os("CAR_API_DOC_WRITE").is_some() {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "docs/api.md is out of date with the OpenAPI document: run scripts/api-doc.sh"
    );
    // Every route of the document is in it.
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            assert!(
                text.contains(&format!("## {} `{path}`", m.to_uppercase())),
                "{m} {path}"
            );
        }
    }
}
