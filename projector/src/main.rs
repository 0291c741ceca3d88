use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("projector: no read-model projection is available in this version");
    ExitCode::SUCCESS
}
