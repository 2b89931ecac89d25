//! `shmkit`: System V shared memory from the command line (see the `shmkit_cli` crate).

fn main() -> std::process::ExitCode {
    shmkit_cli::main()
}
