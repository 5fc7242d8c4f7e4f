//! Unit tests of the command API's pure parts.

use super::ExecStream;
use super::execs::tail_start;

#[test]
fn tail_counts_lines_with_or_without_a_last_newline() {
    let cases: [(&[u8], usize, &[u8]); 6] = [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 1, b"c"),
        (b"a\nb\nc", 5, b"a\nb\nc"),
        (b"a\n", 0, b""),
        (b"", 3, b""),
        (b"\n\n", 1, b"\n"),
    ];
    for (text, n, want) in cases {
        assert_eq!(&text[tail_start(text, n)..], want, "{text:?} {n}");
    }
}

#[test]
fn streams_parse_from_their_names_only() {
    assert_eq!("stdout".parse(), Ok(ExecStream::Stdout));
    assert_eq!("stderr".parse(), Ok(ExecStream::Stderr));
    assert!("both".parse::<ExecStream>().is_err());
    assert_eq!(ExecStream::Stderr.file_name(), "stderr.log");
}
