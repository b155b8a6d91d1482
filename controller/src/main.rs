//! The `baton` binary (also installed as `mender-orchestrator`).

fn main() -> std::process::ExitCode {
    baton::cli::main()
}
