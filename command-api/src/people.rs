//! `command-api user add|remove|list`: the people who sign in to the console (docs/API.md
//! "Identity"), kept in PostgreSQL (`catalog_support::people`). Removing someone also ends
//! their sessions in Redis at once.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use catalog_support::config::Env;
use catalog_support::people::{self, Role};
use catalog_support::session::Sessions;
use clap::Subcommand;

/// What `command-api user` does.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person; the password is read from standard input (one line).
    Add {
        /// How they sign in (stored lower-cased).
        email: String,
        /// editor (catalog:write), auditor (catalog:audit) or admin (all three).
        #[arg(long)]
        role: Role,
        /// Give someone already added this role and password instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a person and end their sessions.
    Remove {
        /// Whom to remove.
        email: String,
    },
    /// List everyone: email, role, when added.
    List,
}

/// Runs `command`; what it did goes to standard output, why it failed to standard error.
pub async fn run<F: Fn(&str) -> Option<String>>(env: &Env<F>, command: UserCommand) -> ExitCode {
    match execute(env, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("command-api user: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    command: UserCommand,
) -> anyhow::Result<()> {
    let url = env.url(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/catalog",
        &["postgres", "postgresql"],
    )?;
    let pool = catalog_support::db::pool(url.expose(), 1)?;
    match command {
        UserCommand::Add {
            email,
            role,
            replace,
        } => {
            let email =
                people::normalize_email(&email).map_err(|m| anyhow::anyhow!("email {m}"))?;
            let password = read_password()?;
            people::check_password(&password).map_err(|m| anyhow::anyhow!("the password {m}"))?;
            if !people::add(&pool, &email, role, &password, replace).await? {
                anyhow::bail!(
                    "{email} is already added (--replace gives them this role and password)"
                );
            }
            println!("added {email} as {role}");
        }
        UserCommand::Remove { email } => {
            let email =
                people::normalize_email(&email).map_err(|m| anyhow::anyhow!("email {m}"))?;
            let removed = people::remove(&pool, &email).await?;
            // Sessions end whether or not the person was still there: a removal whose sessions
            // could not be ended is finished by running it again.
            let sessions = Sessions::new(&env.redis_settings()?, &env.namespace()?)?;
            let ended = sessions.end_all(&email).await.map_err(|err| {
                anyhow::anyhow!("{email}'s sessions could not be ended (run this again): {err}")
            })?;
            match removed {
                true => println!("removed {email}; ended {ended} session(s)"),
                false => println!("nobody is {email}; ended {ended} session(s)"),
            }
        }
        UserCommand::List => {
            for person in people::list(&pool).await? {
                println!(
                    "{}\t{}\t{}",
                    person.email,
                    person.role,
                    person.created_at.to_rfc3339()
                );
            }
        }
    }
    Ok(())
}

/// The password from standard input: its first line, without the line break. Not an argument,
/// which other users of the machine could read in the process list.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (the line is echoed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
