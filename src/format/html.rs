//! HTML escaping for text placed in element content or attribute values. Templates escape by
//! default through [`escape`]; nothing else writes switch- or config-supplied text into HTML.

use std::fmt::Write as _;

/// Escapes `&`, `<`, `>`, `"` and `'`: safe in element content and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push(&mut out, s);
    out
}

/// Escapes into a formatter (for `Display` wrappers and template engines).
pub fn escape_fmt(f: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            _ => continue,
        };
        f.write_str(&s[last..i])?;
        f.write_str(rep)?;
        last = i + c.len_utf8();
    }
    f.write_str(&s[last..])
}

/// Text shown escaped when formatted with `{}`.
pub struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        escape_fmt(f, self.0)
    }
}

/// Writes `s` escaped into `out` (a `String`), for callers building HTML with `write!`.
pub fn push(out: &mut String, s: &str) {
    let _ = write!(out, "{}", Escaped(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            Escaped("<script>alert(1)</script> é").to_string(),
            "&lt;script&gt;alert(1)&lt;/script&gt; é"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
