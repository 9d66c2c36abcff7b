//! `GET /`: the messages as one self-contained HTML page (inline style, no script, nothing
//! fetched from elsewhere) that reloads itself every 5 seconds, readable on a phone. Every
//! value from a message is escaped: the text is whatever the sender put in it.

use std::fmt::Write as _;

use super::inbox::Received;

/// The page listing `messages` (newest first); `filtered` says whether a query narrowed them.
pub fn render(messages: &[Received], filtered: bool) -> String {
    let mut html = String::with_capacity(2048 + messages.len() * 256);
    html.push_str(HEAD);
    if messages.is_empty() {
        html.push_str(if filtered {
            "<p class=\"empty\">No messages match.</p>\n"
        } else {
            "<p class=\"empty\">Nothing sent yet. The registration service POSTs to \
             <code>/messages</code> here when <code>SPONTAN_ALERTS__WEBHOOK_URL</code> \
             points at it.</p>\n"
        });
    } else {
        html.push_str("<ol>\n");
        for received in messages {
            let m = &received.message;
            // Writing to a String cannot fail.
            let _ = writeln!(
                html,
                "<li><p class=\"meta\"><time datetime=\"{datetime}\">{time}</time> · {kind} · \
                 {channel} · to <b>{to}</b></p><p class=\"text\">{text}</p></li>",
                datetime = received.received_at.to_rfc3339(),
                time = received.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
                kind = escape(&m.kind),
                channel = escape(&m.channel),
                to = escape(&m.to),
                text = escape(&m.text),
            );
        }
        html.push_str("</ol>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

/// `text` safe inside an element and inside a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>Spontan: messages of the local stack</title>
<style>
body { font: 16px/1.45 system-ui, sans-serif; margin: 0; color: #1a1a1a; background: #f6f6f4; }
main { max-width: 48rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.25rem; margin: 0 0 .25rem; }
.note { margin: 0 0 1rem; color: #555; font-size: .9rem; }
ol { list-style: none; margin: 0; padding: 0; }
li { background: #fff; border: 1px solid #ddd; border-radius: .5rem; padding: .6rem .8rem; margin: 0 0 .6rem; }
.meta { margin: 0; color: #555; font-size: .85rem; overflow-wrap: anywhere; }
.text { margin: .3rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.empty { color: #555; }
</style>
</head>
<body>
<main>
<h1>Messages of the local stack</h1>
<p class="note">What the messaging gateway stand-in (<code>spontan dev gateway</code>) received, newest first; nothing was sent to anyone. This page reloads every 5 seconds; the same as JSON: <a href="/messages">/messages</a>.</p>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_value_is_text() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
