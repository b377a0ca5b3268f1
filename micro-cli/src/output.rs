//! Plain-text tables and JSON output.

use std::io::Write;

use serde::Serialize;

use crate::CliError;

/// Renders rows as a left-aligned table with a header line, two spaces between columns.
///
/// ```
/// let t = micro_cli::output::table(&["NAME", "N"], &[vec!["greeter".into(), "2".into()]]);
/// assert_eq!(t, "NAME     N\ngreeter  2\n");
/// ```
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Writes a line to stderr, ignoring failure: a closed stderr (`micro api 2>&1 | head -1`)
/// must not stop a command, unlike `eprintln!`, which panics.
pub fn note(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| CliError::Io {
            what: "write to stdout".into(),
            source,
        })
}

/// Writes `value` to stdout as pretty JSON and a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| {
        CliError::Micro(micro_core::Error::internal(format!(
            "cannot format JSON: {e}"
        )))
    })?;
    print(&format!("{text}\n"))
}

/// Writes `value` to stdout as one line of JSON.
pub fn print_json_line<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string(value).map_err(|e| {
        CliError::Micro(micro_core::Error::internal(format!(
            "cannot format JSON: {e}"
        )))
    })?;
    print(&format!("{text}\n"))
}
