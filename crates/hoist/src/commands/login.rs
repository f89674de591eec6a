use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hoist_registry::credentials::{remove_login, save_login};

use super::remote::{block_on, client};
use crate::cli::{LoginArgs, LogoutArgs};

pub fn login(args: LoginArgs) -> Result<ExitCode> {
    let stdin = std::io::stdin();
    let username = match args.username {
        Some(username) => username,
        None if stdin.is_terminal() => {
            eprint!("Username: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => bail!("no user name: pass -u USER"),
    };
    if !args.password_stdin {
        bail!("pass the password on standard input with --password-stdin (it never goes on the command line)");
    }
    let mut password = String::new();
    stdin.lock().read_line(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if username.is_empty() || password.is_empty() {
        bail!("the user name and password must not be empty");
    }
    let client = client(&args.connect, Some((username.clone(), password.clone())))?;
    block_on(client.check_login(&args.registry))??;
    let path = save_login(&args.registry, &username, &password)?;
    if args.json {
        let object = serde_json::json!({
            "registry": args.registry,
            "username": username,
            "config": path.display().to_string(),
        });
        println!("{object:#}");
    } else {
        println!("Login Succeeded ({} saved in {})", args.registry, path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode> {
    if remove_login(&args.registry)? {
        println!("Removed login credentials for {}", args.registry);
    } else {
        println!("Not logged in to {}", args.registry);
    }
    Ok(ExitCode::SUCCESS)
}
