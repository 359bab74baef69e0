//! The `clavis` command line: the server, migrations, and admin commands for bootstrap and
//! automation. Every listing or creating command prints a table, or JSON with `--json`.
//!
//! `args` defines what it accepts, `dispatch` runs it, `output` prints the results.

mod args;
mod dispatch;
mod output;

use clap::Parser;
use clavis_shared::validate;
use std::process::ExitCode;

pub use args::Cli;

/// Parses the command line, runs the command, and prints any error as one line.
pub fn run() -> ExitCode {
    if let Some(refused) = std::env::args_os()
        .skip(1)
        .find_map(|arg| argument_refusal(&arg.to_string_lossy()))
    {
        eprintln!("error: {refused}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match dispatch::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Why an argument is refused before anything runs: it holds a control character other
/// than a line break (which a description may hold). No name, identifier or code takes one,
/// and echoing it in an error could drive the operator's terminal. (U+0000 cannot reach a
/// program through its arguments at all.) The argument is shown with such characters escaped.
fn argument_refusal(arg: &str) -> Option<String> {
    arg.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
        .then(|| {
            format!(
                "the argument \"{}\" holds {}; only line breaks are allowed, in a description",
                arg.escape_debug(),
                validate::CONTROL_CHARACTERS
            )
        })
}

/// Folds a multi-line message (libpq's, for one) onto a single line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
