//! `codex-autorunner`: the long name of `car`, the same program.

fn main() -> std::process::ExitCode {
    car_cli::main()
}
