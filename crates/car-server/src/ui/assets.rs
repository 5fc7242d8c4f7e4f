//! The UI's static files, embedded in the binary and served under names
//! that carry a hash of their bytes (`/ui/assets/app.<hash>.css`), cached
//! by browsers for a year: a new binary with new bytes has new names.
//!
//! The ES modules import each other by their plain names
//! (`from "./common.js"`); those names are replaced by the hashed ones
//! once, at the first use, before the importing module is hashed itself.
//! The service worker and the web manifest keep fixed names (a browser
//! looks for them there) and are never cached for long.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Extension;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::routes::login::BasePath;

/// One embedded file: its plain name, its media type and its bytes.
struct Source {
    name: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

/// The files, each after the ones it imports.
const SOURCES: &[Source] = &[
    Source {
        name: "common.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/common.js"),
    },
    Source {
        name: "voice.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/voice.js"),
    },
    Source {
        name: "hub.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/hub.js"),
    },
    Source {
        name: "repo.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/repo.js"),
    },
    Source {
        name: "snapshot.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/snapshot.js"),
    },
    Source {
        name: "settings.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/settings.js"),
    },
    Source {
        name: "xterm.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/vendor/xterm/xterm.mjs"),
    },
    Source {
        name: "addon-fit.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/vendor/addon-fit/addon-fit.mjs"),
    },
    Source {
        name: "terminal.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/terminal.js"),
    },
    Source {
        name: "xterm.css",
        mime: "text/css; charset=utf-8",
        bytes: include_bytes!("../../ui/vendor/xterm/xterm.css"),
    },
    Source {
        name: "diff.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/diff.js"),
    },
    Source {
        name: "docs.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/docs.js"),
    },
    Source {
        name: "docs.css",
        mime: "text/css; charset=utf-8",
        bytes: include_bytes!("../../ui/static/docs.css"),
    },
    Source {
        name: "logview.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/logview.js"),
    },
    Source {
        name: "showall.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/showall.js"),
    },
    Source {
        name: "runs.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/runs.js"),
    },
    Source {
        name: "tasks.js",
        mime: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/static/tasks.js"),
    },
    Source {
        name: "runs.css",
        mime: "text/css; charset=utf-8",
        bytes: include_bytes!("../../ui/static/runs.css"),
    },
    Source {
        name: "app.css",
        mime: "text/css; charset=utf-8",
        bytes: include_bytes!("../../ui/static/app.css"),
    },
    Source {
        name: "icon.svg",
        mime: "image/svg+xml",
        bytes: include_bytes!("../../ui/static/icon.svg"),
    },
];

/// The third-party files (see `ui/vendor/manifest.json`): only the
/// terminal page loads them, and they are outside the JavaScript budget.
#[cfg(test)]
const VENDORED: &[&str] = &["xterm.js", "addon-fit.js", "xterm.css"];

/// The service worker, at `<base>/sw.js`.
const SERVICE_WORKER: &str = include_str!("../../ui/static/sw.js");

/// A file as served.
#[derive(Debug)]
struct Asset {
    mime: &'static str,
    bytes: Vec<u8>,
}

/// Every file by its hashed name, and the hashed name of each plain one.
#[derive(Debug)]
pub(crate) struct Assets {
    by_hashed: HashMap<String, Asset>,
    hashed: HashMap<&'static str, String>,
}

static ASSETS: OnceLock<Assets> = OnceLock::new();

/// The assets, hashed at the first call.
pub(crate) fn assets() -> &'static Assets {
    ASSETS.get_or_init(build)
}

fn build() -> Assets {
    let mut out = Assets {
        by_hashed: HashMap::new(),
        hashed: HashMap::new(),
    };
    for src in SOURCES {
        add(&mut out, src, 0);
    }
    out
}

/// The plain names of the files `text` imports (`"./name"` strings naming
/// one of [`SOURCES`]).
fn imports(text: &str) -> Vec<&'static str> {
    SOURCES
        .iter()
        .map(|s| s.name)
        .filter(|n| text.contains(&format!("\"./{n}\"")))
        .collect()
}

/// Hashes `src` into `out`, its imports first (a module's bytes hold its
/// imports' hashed names, so its own name changes with theirs). `depth`
/// stops an import cycle, which leaves the names in the cycle plain (the
/// test `every_import_names_a_served_file` fails on one).
fn add(out: &mut Assets, src: &Source, depth: usize) {
    if out.hashed.contains_key(src.name) {
        return;
    }
    let mut bytes = src.bytes.to_vec();
    if src.name.ends_with(".js") {
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        for dep in imports(&text) {
            if let Some(dep_src) = SOURCES.iter().find(|s| s.name == dep)
                && dep != src.name
                && depth < SOURCES.len()
            {
                add(out, dep_src, depth + 1);
            }
            if let Some(hashed) = out.hashed.get(dep) {
                text = text.replace(&format!("\"./{dep}\""), &format!("\"./{hashed}\""));
            }
        }
        bytes = text.into_bytes();
    }
    let name = hashed_name(src.name, &bytes);
    out.hashed.insert(src.name, name.clone());
    out.by_hashed.insert(
        name,
        Asset {
            mime: src.mime,
            bytes,
        },
    );
}

/// `stem.<first 10 hex digits of the SHA-256>.ext`.
fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hex}.{ext}"),
        None => format!("{name}.{hex}"),
    }
}

impl Assets {
    /// The URL path of each file under `base`, by plain name.
    pub(crate) fn urls(&self, base: &str) -> HashMap<&'static str, String> {
        self.hashed
            .iter()
            .map(|(plain, hashed)| (*plain, format!("{base}/ui/assets/{hashed}")))
            .collect()
    }

    /// The bytes of every module (the budget's measure).
    #[cfg(test)]
    fn total_js(&self) -> usize {
        self.by_hashed
            .iter()
            .filter(|(n, _)| n.ends_with(".js"))
            .filter(|(n, _)| !VENDORED.iter().any(|v| self.hashed.get(v) == Some(*n)))
            .map(|(_, a)| a.bytes.len())
            .sum()
    }
}

fn with_headers(mime: &'static str, cache: &'static str, body: Vec<u8>) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `GET /ui/assets/{file}`: a hashed file, cached for a year.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match assets().by_hashed.get(&file) {
        Some(a) => with_headers(
            a.mime,
            "public, max-age=31536000, immutable",
            a.bytes.clone(),
        ),
        None => {
            let mut resp = with_headers(
                "text/plain; charset=utf-8",
                "no-store",
                format!("no asset {file:?} in this version of car (reload the page)").into_bytes(),
            );
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    }
}

/// `GET /sw.js`: the service worker (it caches the hashed files only).
pub(crate) async fn service_worker() -> Response {
    with_headers(
        "text/javascript; charset=utf-8",
        "no-cache",
        SERVICE_WORKER.as_bytes().to_vec(),
    )
}

/// `GET /manifest.webmanifest`: what installing the UI as an app needs.
pub(crate) async fn manifest(Extension(BasePath(base)): Extension<BasePath>) -> Response {
    let urls = assets().urls(&base);
    let icon = urls.get("icon.svg").cloned().unwrap_or_default();
    let body = serde_json::json!({
        "name": "car: codex-autorunner",
        "short_name": "car",
        "start_url": format!("{base}/"),
        "scope": format!("{base}/"),
        "display": "standalone",
        "background_color": "#101418",
        "theme_color": "#1f6feb",
        "icons": [{"src": icon, "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
    });
    with_headers(
        "application/manifest+json",
        "no-cache",
        body.to_string().into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_import_each_other_by_their_hashed_names() {
        let a = assets();
        let common = &a.hashed["common.js"];
        let hub = &a.by_hashed[&a.hashed["hub.js"]];
        let text = String::from_utf8_lossy(&hub.bytes);
        assert!(text.contains(&format!("\"./{common}\"")), "{text}");
        assert!(!text.contains("\"./common.js\""));
        assert!(common.starts_with("common.") && common.ends_with(".js"));
        assert_eq!(common.len(), "common..js".len() + 10);
    }

    #[test]
    fn every_import_names_a_served_file() {
        // A module importing one listed after it in SOURCES once kept the
        // plain name, which the browser could not load.
        let a = assets();
        for (name, asset) in &a.by_hashed {
            if !name.ends_with(".js") {
                continue;
            }
            let text = String::from_utf8_lossy(&asset.bytes);
            for (i, _) in text.match_indices("\"./") {
                let rest = &text[i + 3..];
                let Some(end) = rest.find('"') else { continue };
                let target = &rest[..end];
                assert!(
                    a.by_hashed.contains_key(target),
                    "{name} imports ./{target}, which is not served"
                );
            }
        }
    }

    #[test]
    fn the_terminal_imports_the_vendored_xterm_by_its_hashed_name() {
        let a = assets();
        let term = &a.by_hashed[&a.hashed["terminal.js"]];
        let text = String::from_utf8_lossy(&term.bytes);
        for plain in ["xterm.js", "addon-fit.js", "common.js"] {
            assert!(
                text.contains(&format!("\"./{}\"", a.hashed[plain])),
                "{plain}"
            );
            assert!(!text.contains(&format!("\"./{plain}\"")), "{plain}");
        }
        // The vendored files are served byte for byte.
        let xterm = &a.by_hashed[&a.hashed["xterm.js"]];
        assert_eq!(
            xterm.bytes,
            include_bytes!("../../ui/vendor/xterm/xterm.mjs")
        );
    }

    #[test]
    fn the_javascript_stays_far_under_its_budget() {
        // 200 KB gzipped is the budget; uncompressed it must stay small.
        assert!(assets().total_js() < 60_000, "{}", assets().total_js());
    }

    #[test]
    fn the_same_bytes_get_the_same_name() {
        assert_eq!(hashed_name("a.css", b"x"), hashed_name("a.css", b"x"));
        assert_ne!(hashed_name("a.css", b"x"), hashed_name("a.css", b"y"));
    }
}
