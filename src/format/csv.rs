//! CSV output through the `csv` writer: fields quoted where they need it (a comma, a quote or
//! a line break in a name), `\n` line ends. Every CSV the daemon writes goes through here.

/// `rows` (the header first) as CSV text.
pub fn write<R, F>(rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        // Writing into memory cannot fail for I/O; a row that does is left out, not a panic.
        if let Err(e) = w.write_record(row) {
            tracing::warn!("CSV output: a row was left out: {e}");
        }
    }
    let bytes = match w.into_inner() {
        Ok(b) => b,
        Err(e) => e.into_inner().into_inner().unwrap_or_default(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let out = write([
            vec!["name", "value"],
            vec!["Acme, Inc.", "1"],
            vec!["say \"hi\"", ""],
            vec!["plain", "2"],
        ]);
        assert_eq!(
            out,
            "name,value\n\"Acme, Inc.\",1\n\"say \"\"hi\"\"\",\nplain,2\n"
        );
    }
}
