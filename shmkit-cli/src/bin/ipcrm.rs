//! `ipcrm`: util-linux's `ipcrm`, reimplemented over the shmkit library (see `shmkit_cli`).

fn main() -> std::process::ExitCode {
    shmkit_cli::main()
}
