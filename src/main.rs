//! The `tessera` binary: the CLI ([`tessera::cli`]) and nothing else.

fn main() -> std::process::ExitCode {
    tessera::cli::main()
}
