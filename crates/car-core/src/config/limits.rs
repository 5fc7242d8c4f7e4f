//! The limits of config input, and the checks that run before the YAML
//! parser sees a file, so no file can make a command slow or crash it.
//!
//! The parser's cost grows with the square of the flow nesting (`[[[[...`),
//! so that nesting is measured first by a linear scan; the file size is
//! checked before it is read; the parsed value's size and depth are bounded
//! while it is built (see `yaml.rs`).

use std::io::Read;
use std::path::Path;

use super::ConfigError;

/// The biggest config file read, in bytes (1 MiB).
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The deepest nesting of lists and mappings in a config file or value.
pub(crate) const MAX_DEPTH: usize = 32;
/// The most values (scalars, lists, mappings; aliases expanded) in one file.
pub(crate) const MAX_VALUES: usize = 100_000;
/// The longest string value, in bytes (below the kernel's 128 KiB limit on
/// one argument of a program, since strings like `codex.model` become one).
pub(crate) const MAX_STRING_BYTES: usize = 16 * 1024;
/// The largest duration: 10 years (365-day years), in seconds.
pub(crate) const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// How much of an oversized file is scanned to name its longest line.
const HINT_SCAN_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a config file of at most [`MAX_FILE_BYTES`]; `None` when it does
/// not exist. A bigger file is refused before it is read whole.
pub(super) fn read_file(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ConfigError::TooBig {
            path: path.to_path_buf(),
            size,
            longest: longest_line(path),
        });
    }
    Ok(Some(bytes))
}

/// The longest line of an oversized file (scanning its first 64 MiB):
/// `(line, key path, bytes)`, the key path guessed from block indentation.
fn longest_line(path: &Path) -> Option<(usize, String, usize)> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::new(file.take(HINT_SCAN_BYTES));
    let mut best: Option<(usize, String, usize)> = None;
    let mut parents: Vec<(usize, String)> = Vec::new();
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        match std::io::BufRead::read_until(&mut reader, b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        line += 1;
        let indent = buf.iter().take_while(|&&b| b == b' ').count();
        let rest = &buf[indent..];
        let key = block_key(rest);
        if let Some(k) = &key {
            parents.retain(|(i, _)| *i < indent);
            if best.as_ref().is_none_or(|b| buf.len() > b.2) {
                let mut path: Vec<&str> = parents.iter().map(|(_, k)| k.as_str()).collect();
                path.push(k);
                best = Some((line, path.join("."), buf.len()));
            }
            parents.push((indent, k.clone()));
        } else if best.as_ref().is_none_or(|b| buf.len() > b.2) {
            let path: Vec<&str> = parents
                .iter()
                .filter(|(i, _)| *i < indent)
                .map(|(_, k)| k.as_str())
                .collect();
            best = Some((line, path.join("."), buf.len()));
        }
    }
    best
}

/// The key of a block mapping line (`key: ...`), if it starts with one.
fn block_key(rest: &[u8]) -> Option<String> {
    let end = rest.iter().position(|&b| b == b':')?;
    let key = std::str::from_utf8(&rest[..end]).ok()?.trim();
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    let after = rest.get(end + 1).copied();
    (plain && matches!(after, None | Some(b' ' | b'\n' | b'\r' | b'\t'))).then(|| key.to_string())
}

/// Measures the flow nesting (`[` and `{`) of a YAML text in linear time;
/// returns the 1-based line where it first goes deeper than [`MAX_DEPTH`].
///
/// The count skips quoted scalars and comments as the parser does, and
/// errs on the side of counting. A second count, which skips only comments
/// (so a quote mistaken inside a block scalar cannot hide brackets), refuses
/// past [`FLOW_BACKSTOP`]; it counts brackets inside quotes too, hence the
/// higher bound.
pub(super) fn flow_too_deep(text: &str) -> Option<usize> {
    match (quote_aware(text.as_bytes()), comments_only(text.as_bytes())) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The bound of the count that does not skip quotes; the parser's time grows
/// with the nesting times the file size, and stays well under a second at
/// this nesting for a file of [`MAX_FILE_BYTES`].
const FLOW_BACKSTOP: usize = 256;

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The count that skips quoted scalars and comments.
fn quote_aware(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut plain = false; // inside a plain scalar: a quote is text there
    let mut prop = false; // inside a tag, anchor or alias
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let space_after = bytes.get(i + 1).is_none_or(|&c| is_space(c));
        match b {
            b'\n' => {
                line += 1;
                prop = false;
                // In a flow collection a plain scalar goes on over lines.
                if depth == 0 {
                    plain = false;
                }
            }
            b' ' | b'\t' | b'\r' => prop = false,
            b'#' if i == 0 || is_space(bytes[i - 1]) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(line);
                }
                (plain, prop) = (false, false);
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                (plain, prop) = (false, false);
            }
            b',' if depth > 0 => (plain, prop) = (false, false),
            b':' if space_after || depth > 0 => plain = false,
            b'-' | b'?' if !plain && space_after => {}
            b'!' | b'&' | b'*' if !plain => prop = true,
            b'\'' | b'"' if !plain && !prop => {
                i = skip_quoted(bytes, i, &mut line);
            }
            _ => {
                if !prop {
                    plain = true;
                }
            }
        }
        i += 1;
    }
    None
}

/// Returns the index of the closing quote of the quoted scalar opened at
/// `start` (or the end), counting the lines it spans.
fn skip_quoted(bytes: &[u8], start: usize, line: &mut usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            *line += 1;
        } else if quote == b'"' && c == b'\\' {
            if bytes.get(i + 1) == Some(&b'\n') {
                *line += 1;
            }
            i += 1;
        } else if c == quote {
            if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 1;
            } else {
                return i;
            }
        }
        i += 1;
    }
    i
}

/// The count that skips only comments.
fn comments_only(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'#' if i == 0 || is_space(bytes[i - 1]) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > FLOW_BACKSTOP {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_nesting_is_measured_outside_quotes_and_comments() {
        let deep = format!("a: {}", "[".repeat(MAX_DEPTH + 1));
        assert_eq!(flow_too_deep(&deep), Some(1));
        let ok = format!("a: {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(flow_too_deep(&ok), None);
        let quoted = format!("a: \"{}\"\nb: '{}'\n", "[".repeat(100), "{".repeat(100));
        assert_eq!(flow_too_deep(&quoted), None);
        let comment = format!("# {}\na: 1 # {}\n", "[".repeat(100), "{".repeat(100));
        assert_eq!(flow_too_deep(&comment), None);
        // A quote inside a plain scalar of a flow collection does not hide
        // the brackets after it from the count.
        let tricky = format!("a: [x 'y, {}\n", "[".repeat(MAX_DEPTH + 1));
        assert_eq!(flow_too_deep(&tricky), Some(1));
        // A quote in a block scalar fools the first count, not the second.
        let block = format!("a: |\n  'x\nb: {}\nc: '\n", "[".repeat(FLOW_BACKSTOP + 1));
        assert_eq!(flow_too_deep(&block), Some(3));
        let line3 = format!("a: 1\nb: 2\nc: {}", "{a: ".repeat(MAX_DEPTH + 1));
        assert_eq!(flow_too_deep(&line3), Some(3));
    }

    #[test]
    fn an_oversized_file_is_refused_naming_its_longest_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yml");
        let big = "m".repeat(MAX_FILE_BYTES as usize + 10);
        std::fs::write(&p, format!("version: 2\ncodex:\n  model: {big}\n")).unwrap();
        let e = read_file(&p).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("c.yml") && msg.contains("codex.model"),
            "{msg}"
        );
        assert!(msg.contains("line 3"), "{msg}");
        std::fs::write(&p, "version: 2\n").unwrap();
        assert!(read_file(&p).unwrap().is_some());
        assert!(read_file(&dir.path().join("none.yml")).unwrap().is_none());
    }
}
