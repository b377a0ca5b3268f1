//! The error every command returns.

use micro_core::Error;

/// Why a command failed.
///
/// Every variant maps to a structured [`micro_core::Error`] ([`CliError::to_error`]), which is
/// what the command line prints (one line) and the gateway returns (a JSON body).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A service, the backend or the registry answered with a structured error.
    #[error("{0}")]
    Micro(#[from] Error),
    /// A JSON argument or input could not be parsed.
    #[error("invalid JSON {what}: {source}")]
    Json {
        /// What was being parsed (`body`, `event`).
        what: &'static str,
        /// The parser's message.
        source: serde_json::Error,
    },
    /// Reading input or writing output failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done (`read stdin`, `bind 127.0.0.1:8080`).
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The command line is inconsistent in a way clap cannot check.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// True when writing output failed because the reader went away (`micro ... | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The structured error: the service's own for [`CliError::Micro`], 400 for bad input and
    /// usage, 500 for I/O.
    pub fn to_error(&self) -> Error {
        match self {
            CliError::Micro(err) => err.clone(),
            CliError::Json { .. } | CliError::Usage(_) => Error::bad_request(self.to_string()),
            CliError::Io { .. } => Error::internal(self.to_string()),
        }
    }
}

impl CliError {
    /// The one line the command line prints in text mode: a service's error with its code and
    /// status (it is the service's answer), a local failure (a port in use, bad JSON) as what
    /// it is, with no HTTP status.
    pub fn one_line(&self) -> String {
        match self {
            CliError::Micro(err) => one_line(err),
            local => local.to_string().replace(['\n', '\r'], " "),
        }
    }
}

/// Formats a structured error as the one line the command line prints:
/// `503 Service Unavailable: no instance of service `greeter` is running`.
pub fn one_line(err: &Error) -> String {
    let mut line = format!("{} {}", err.code(), err.status());
    if !err.detail().is_empty() {
        line.push_str(": ");
        line.push_str(err.detail());
    }
    if !err.id().is_empty() {
        line.push_str(&format!(" (from `{}`)", err.id()));
    }
    line.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_keeps_code_status_detail_and_id() {
        let err = Error::unavailable("nobody\nhome").with_id("greeter.hello");
        assert_eq!(
            one_line(&err),
            "503 Service Unavailable: nobody home (from `greeter.hello`)"
        );
        assert_eq!(one_line(&Error::new(404, "")), "404 Not Found");
    }

    #[test]
    fn input_errors_are_bad_requests() {
        let source = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let err = CliError::Json {
            what: "body",
            source,
        };
        assert_eq!(err.to_error().code(), 400);
        assert!(err.to_string().starts_with("invalid JSON body:"));
        // Local: printed without an HTTP status.
        assert!(
            err.one_line().starts_with("invalid JSON body:"),
            "{}",
            err.one_line()
        );
    }
}
