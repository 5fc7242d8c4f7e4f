//! Splitting the agent's output into lines, per stream, with bounded
//! memory: a capped line buffer and a capped tail of stdout.

use std::collections::VecDeque;

use super::OutputLog;
use crate::fs_util::PathError;

/// A line longer than this is written in pieces, so one huge line cannot
/// grow memory without bound. A piece never ends inside a UTF-8 character:
/// the bytes of a character cut by the limit start the next piece.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// How much of stdout is kept in memory as the run's final output.
const TAIL_BYTES: usize = 256 * 1024;

/// Which of the agent's pipes a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Out,
    Err,
}

/// Splits chunks into lines per stream (`\n`, `\r\n`; a lone `\r` stays in
/// the line) and keeps the tail of stdout.
#[derive(Default)]
pub(super) struct LineSplitter {
    partial: [Vec<u8>; 2],
    pub(super) bytes: [u64; 2],
    tail: VecDeque<u8>,
}

impl LineSplitter {
    pub(super) fn feed(
        &mut self,
        stream: Stream,
        chunk: &[u8],
        log: &mut OutputLog,
    ) -> Result<(), PathError> {
        let i = stream as usize;
        self.bytes[i] += chunk.len() as u64;
        if stream == Stream::Out {
            if chunk.len() >= TAIL_BYTES {
                self.tail.clear();
                self.tail.extend(&chunk[chunk.len() - TAIL_BYTES..]);
            } else {
                let excess = (self.tail.len() + chunk.len()).saturating_sub(TAIL_BYTES);
                self.tail.drain(..excess);
                self.tail.extend(chunk);
            }
        }
        let mut rest = chunk;
        // One clock read per chunk, not per line: lines of one chunk arrived together.
        log.stamp.refresh();
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(nl);
            rest = &after[1..];
            if self.partial[i].is_empty() {
                log.line(stream, trim_cr(line))?;
            } else {
                self.partial[i].extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial[i]);
                log.line(stream, trim_cr(&whole))?;
            }
        }
        self.partial[i].extend_from_slice(rest);
        if self.partial[i].len() >= MAX_LINE {
            let cut = char_boundary(&self.partial[i]);
            let carry = self.partial[i].split_off(cut);
            let piece = std::mem::replace(&mut self.partial[i], carry);
            log.line(stream, &piece)?;
        }
        Ok(())
    }

    pub(super) fn finish(&mut self, log: &mut OutputLog) -> Result<(), PathError> {
        for (i, stream) in [Stream::Out, Stream::Err].into_iter().enumerate() {
            if !self.partial[i].is_empty() {
                let piece = std::mem::take(&mut self.partial[i]);
                log.line(stream, &piece)?;
            }
        }
        Ok(())
    }

    pub(super) fn tail_string(&self) -> String {
        let (a, b) = self.tail.as_slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        // The kept tail may begin inside a character: drop its stray
        // continuation bytes rather than show them as U+FFFD.
        let cut = self.bytes[Stream::Out as usize] > v.len() as u64;
        let start = if cut {
            v.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count()
        } else {
            0
        };
        String::from_utf8_lossy(&v[start..]).into_owned()
    }
}

/// Returns where to cut `buf` so that no UTF-8 character is split: its
/// length, or the start of an incomplete character at its end. Bytes that
/// are not UTF-8 anyway are cut anywhere (each is one U+FFFD in the log).
fn char_boundary(buf: &[u8]) -> usize {
    let len = buf.len();
    // A character is at most 4 bytes: look back at most 3 for its lead byte.
    for back in 1..=3.min(len) {
        let b = buf[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: its lead is further back
        }
        let width = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return len, // ASCII or not a lead byte: nothing to carry
        };
        return if width > back { len - back } else { len };
    }
    len
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_split_only_between_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = OutputLog::open(&path).unwrap();
        let mut lines = LineSplitter::default();
        // One odd byte first, then 2-byte characters: MAX_LINE (even) falls
        // inside a character. Then 3- and 4-byte characters across the limit.
        let mut line = b"a".to_vec();
        while line.len() < MAX_LINE + 10 {
            line.extend_from_slice("é".as_bytes());
        }
        for ch in ["€", "😀"] {
            line.extend(std::iter::repeat_n(
                b'b',
                MAX_LINE - line.len() % MAX_LINE - 1,
            ));
            line.extend_from_slice(ch.as_bytes());
            line.extend_from_slice(ch.as_bytes());
        }
        line.push(b'\n');
        // Fed in odd-sized chunks, as pipes deliver them.
        for chunk in line.chunks(65_537) {
            lines.feed(Stream::Out, chunk, &mut log).unwrap();
        }
        lines.finish(&mut log).unwrap();
        log.flush().unwrap();
        let text = std::fs::read(&path).unwrap();
        let text = String::from_utf8(text).expect("the log is valid UTF-8");
        assert!(!text.contains('\u{FFFD}'), "a character was cut");
        let pieces: Vec<&str> = text.lines().collect();
        assert!(pieces.len() >= 3, "{} pieces", pieces.len());
        let joined: String = pieces
            .iter()
            .map(|l| &l[l.find("] stdout: ").unwrap() + 10..])
            .collect();
        assert_eq!(
            joined.as_bytes(),
            &line[..line.len() - 1],
            "no byte lost or added"
        );
        // Invalid bytes are still cut (one U+FFFD each), never held forever.
        assert_eq!(char_boundary(b"ab\xff"), 3);
        assert_eq!(char_boundary(b"a\xe2\x82"), 1);
        assert_eq!(char_boundary(b"a\xe2\x82\xac"), 4);
        assert_eq!(char_boundary(b"\xf0\x9f\x98"), 0);
    }

    #[test]
    fn the_kept_stdout_tail_starts_at_a_character() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OutputLog::open(&dir.path().join("out.log")).unwrap();
        let mut lines = LineSplitter::default();
        // 3-byte characters: TAIL_BYTES (2^18) from the end falls on the
        // last byte of a character.
        let out = "€".repeat(TAIL_BYTES).into_bytes();
        lines.feed(Stream::Out, &out, &mut log).unwrap();
        let tail = lines.tail_string();
        assert!(!tail.contains('\u{FFFD}'));
        assert_eq!(tail.len(), TAIL_BYTES - 1);
        // Output shorter than the tail is kept whole, whatever its bytes.
        let mut short = LineSplitter::default();
        short.feed(Stream::Out, b"\x80ab", &mut log).unwrap();
        assert_eq!(short.tail_string(), "\u{FFFD}ab");
    }
}
