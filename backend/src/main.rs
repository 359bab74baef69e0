fn main() -> std::process::ExitCode {
    clavis::cli::run()
}
