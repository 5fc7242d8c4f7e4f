//! The `car` binary: everything lives in the `car_cli` library.

fn main() -> std::process::ExitCode {
    car_cli::main()
}
