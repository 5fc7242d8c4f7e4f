//! A doc's preview: Markdown as HTML that is safe to put in a page. Raw
//! HTML in the doc shows as text, links keep only safe schemes, images
//! show as links (the page loads nothing from elsewhere), and each task
//! checkbox names its source line (`data-line`, 0-based) so a click can
//! tick that line.

use std::fmt::Write;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Escapes `s` for HTML text and attribute values.
fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `url` when it is relative or http(s)/mailto, else `#`.
fn safe_url(url: &str) -> &str {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower.split_once(':').map(|(s, _)| s);
    match scheme {
        Some(s) if s.contains(['/', '?', '#']) => url,
        Some("http" | "https" | "mailto") | None => url,
        Some(_) => "#",
    }
}

fn level(l: HeadingLevel) -> u8 {
    match l {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// `text` as HTML, its task checkboxes clickable (a doc's preview).
pub(crate) fn render(text: &str) -> String {
    render_html(text, true)
}

/// `text` as HTML to read only: its task checkboxes are disabled (a
/// snapshot).
pub(crate) fn render_read_only(text: &str) -> String {
    render_html(text, false)
}

fn render_html(text: &str, ticks: bool) -> String {
    let opts = Options::ENABLE_TASKLISTS
        | Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |offset: usize| line_starts.partition_point(|&s| s <= offset) - 1;
    let mut out = String::with_capacity(text.len() * 3 / 2);
    let mut aligns: Vec<Alignment> = Vec::new();
    let mut cell = 0usize;
    let mut in_head = false;
    // Image alt text is written as the link's text.
    for (ev, range) in Parser::new_ext(text, opts).into_offset_iter() {
        match ev {
            Event::Start(tag) => match tag {
                Tag::Paragraph => out.push_str("<p>"),
                Tag::Heading { level: l, .. } => {
                    let _ = write!(out, "<h{}>", level(l));
                }
                Tag::BlockQuote(_) => out.push_str("<blockquote>"),
                Tag::CodeBlock(kind) => {
                    out.push_str("<pre><code");
                    if let CodeBlockKind::Fenced(info) = kind
                        && let Some(lang) = info.split_whitespace().next()
                    {
                        out.push_str(" class=\"language-");
                        esc(&mut out, lang);
                        out.push('"');
                    }
                    out.push('>');
                }
                Tag::List(Some(1)) => out.push_str("<ol>"),
                Tag::List(Some(n)) => {
                    let _ = write!(out, "<ol start=\"{n}\">");
                }
                Tag::List(None) => out.push_str("<ul>"),
                Tag::Item => out.push_str("<li>"),
                Tag::FootnoteDefinition(name) => {
                    out.push_str("<div class=\"footnote\"><sup>");
                    esc(&mut out, &name);
                    out.push_str("</sup> ");
                }
                Tag::Table(a) => {
                    aligns = a;
                    out.push_str("<div class=\"table\"><table>");
                }
                Tag::TableHead => {
                    in_head = true;
                    cell = 0;
                    out.push_str("<thead><tr>");
                }
                Tag::TableRow => {
                    cell = 0;
                    out.push_str("<tr>");
                }
                Tag::TableCell => {
                    let t = if in_head { "th" } else { "td" };
                    let align = match aligns.get(cell) {
                        Some(Alignment::Left) => " class=\"al\"",
                        Some(Alignment::Center) => " class=\"ac\"",
                        Some(Alignment::Right) => " class=\"ar\"",
                        _ => "",
                    };
                    let _ = write!(out, "<{t}{align}>");
                }
                Tag::Emphasis => out.push_str("<em>"),
                Tag::Strong => out.push_str("<strong>"),
                Tag::Strikethrough => out.push_str("<del>"),
                Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                    out.push_str("<a href=\"");
                    esc(&mut out, safe_url(&dest_url));
                    out.push_str("\" rel=\"noopener noreferrer\">");
                }
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => out.push_str("</p>\n"),
                TagEnd::Heading(l) => {
                    let _ = writeln!(out, "</h{}>", level(l));
                }
                TagEnd::BlockQuote(_) => out.push_str("</blockquote>\n"),
                TagEnd::CodeBlock => out.push_str("</code></pre>\n"),
                TagEnd::List(true) => out.push_str("</ol>\n"),
                TagEnd::List(false) => out.push_str("</ul>\n"),
                TagEnd::Item => out.push_str("</li>\n"),
                TagEnd::FootnoteDefinition => out.push_str("</div>\n"),
                TagEnd::Table => out.push_str("</tbody></table></div>\n"),
                TagEnd::TableHead => {
                    in_head = false;
                    out.push_str("</tr></thead><tbody>");
                }
                TagEnd::TableRow => out.push_str("</tr>"),
                TagEnd::TableCell => {
                    out.push_str(if in_head { "</th>" } else { "</td>" });
                    cell += 1;
                }
                TagEnd::Emphasis => out.push_str("</em>"),
                TagEnd::Strong => out.push_str("</strong>"),
                TagEnd::Strikethrough => out.push_str("</del>"),
                TagEnd::Link | TagEnd::Image => out.push_str("</a>"),
                _ => {}
            },
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => esc(&mut out, &t),
            Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str("<code>");
                esc(&mut out, &t);
                out.push_str("</code>");
            }
            Event::FootnoteReference(name) => {
                out.push_str("<sup>");
                esc(&mut out, &name);
                out.push_str("</sup>");
            }
            Event::SoftBreak => out.push('\n'),
            Event::HardBreak => out.push_str("<br>\n"),
            Event::Rule => out.push_str("<hr>\n"),
            Event::TaskListMarker(done) => {
                let _ = write!(
                    out,
                    "<input type=\"checkbox\" class=\"tick\" data-line=\"{}\" aria-label=\"done\"{}{}> ",
                    line_of(range.start),
                    if done { " checked" } else { "" },
                    if ticks { "" } else { " disabled" }
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn raw_html_and_scripts_show_as_text() {
        let html = render("<script>alert(1)</script>\n\nhi <b onclick=x>b</b>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn links_keep_safe_schemes_only() {
        let html = render("[a](javascript:alert(1)) [b](https://x.org/?b=1&c=2) [c](docs/a.md)");
        assert!(html.contains("href=\"#\""), "{html}");
        assert!(
            html.contains("href=\"https://x.org/?b=1&amp;c=2\""),
            "{html}"
        );
        assert!(html.contains("href=\"docs/a.md\""), "{html}");
        assert!(!html.contains("javascript"), "{html}");
    }

    #[test]
    fn each_checkbox_names_its_line() {
        let html = render("# TODO\n\n- [ ] one\n- [x] two\n  - [ ] nested\n");
        assert!(
            html.contains("data-line=\"2\" aria-label=\"done\">"),
            "{html}"
        );
        assert!(
            html.contains("data-line=\"3\" aria-label=\"done\" checked>"),
            "{html}"
        );
        assert!(html.contains("data-line=\"4\""), "{html}");
        assert!(html.contains("<h1>TODO</h1>"), "{html}");
    }

    #[test]
    fn tables_and_code_render() {
        let html = render("|a|b|\n|-|:-:|\n|1|2|\n\n```rust\nlet x = 1 < 2;\n```\n");
        assert!(html.contains("<th>a</th><th class=\"ac\">b</th>"), "{html}");
        assert!(html.contains("<td>1</td>"), "{html}");
        assert!(
            html.contains("<pre><code class=\"language-rust\">let x = 1 &lt; 2;"),
            "{html}"
        );
    }
}
