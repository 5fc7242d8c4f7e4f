//! A copy of the `car` binary's `main`, so this test crate has
//! `CARGO_BIN_EXE_car-dup` (Cargo exposes only a crate's own binaries to its
//! tests; a different name avoids an output-file collision with `car`).

fn main() -> std::process::ExitCode {
    car_cli::main()
}
