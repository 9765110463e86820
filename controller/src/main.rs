//! The `runbox` command: see `runbox --help` and README.md.

fn main() {
    std::process::exit(runbox::cli::main());
}
