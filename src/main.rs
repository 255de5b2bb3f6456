fn main() -> std::process::ExitCode {
    tessera::cli::main()
}
