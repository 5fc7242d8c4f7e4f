//! What `car serve` prints for a browser: the one-time link, on stderr,
//! and the same link as a QR code drawn with Unicode half blocks when
//! stderr is a terminal (a phone's camera opens it; `--no-qr` leaves it
//! out). The QR code is drawn light on the terminal's background, for the
//! usual dark terminal; phone cameras read it either way round.

use std::io::IsTerminal;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// Prints `link` and, when `qr` and stderr is a terminal, its QR code.
pub(crate) fn print_link(link: &str, qr: bool) {
    let minutes = car_server::CODE_TTL.as_secs() / 60;
    errln!("car: to use a browser, open this link (once, within {minutes} minutes): {link}");
    if qr && std::io::stderr().is_terminal() {
        match qr_text(link) {
            Some(text) => errln!("{text}"),
            None => errln!("car: warning: the link is too long for a QR code"),
        }
    }
}

/// `text` as a QR code in Unicode half blocks, quiet zone included.
pub(crate) fn qr_text(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_a_square_of_half_blocks() {
        let qr = qr_text("http://127.0.0.1:4173/auth/link?code=0123456789abcdef").unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        assert!(width > 21, "{qr}");
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two rows of modules a line: about half as many lines as columns.
        assert!(
            lines.len() * 2 >= width && lines.len() * 2 <= width + 1,
            "{qr}"
        );
        assert!(
            qr.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n'))
        );
    }
}
