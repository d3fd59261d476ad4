//! SQL in the stack's database container or pod: psql over the local socket as the database's
//! owner, each statement one argv element (never a shell), one output line per SELECT.

use crate::api::validated::ValidatedStack;
use crate::audit::exec::Exec;

/// Marks the audit's own statements, so its queries never count as the workload's.
pub const TAG: &str = "/* appstack-audit */";

/// Where psql runs, and the role and database to sign in as.
pub struct Psql<'a, X: Exec> {
    pub exec: &'a X,
    user: String,
    database: String,
}

impl<'a, X: Exec> Psql<'a, X> {
    /// None when the stack has no database.
    pub fn of(exec: &'a X, stack: &ValidatedStack) -> Option<Self> {
        let db = stack.database.as_ref()?;
        Some(Psql {
            exec,
            user: db.user.clone(),
            database: db.name.clone(),
        })
    }

    /// Runs the statements in one session, stopping at the first error; returns the
    /// lines printed (unaligned, tuples only), or psql's error.
    pub async fn session(&self, statements: &[String]) -> Result<Vec<String>, String> {
        let mut argv: Vec<String> = [
            "psql",
            "-h",
            crate::protect::backup::SOCKET,
            "-U",
            &self.user,
            "-d",
            &self.database,
            "-XtAq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SET client_min_messages = warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in statements {
            argv.push("-c".into());
            argv.push(s.clone());
        }
        let ran = self.exec.run("database", argv).await?;
        if ran.exit_code != 0 {
            return Err(first_error(&ran.stderr));
        }
        Ok(ran.stdout.lines().map(str::to_string).collect())
    }

    /// One query's rows as JSON: the query is wrapped in `jsonb_agg`, so any row shape
    /// arrives as one line.
    pub async fn rows(&self, query: &str) -> Result<Vec<serde_json::Value>, String> {
        let wrapped = format!("{TAG} SELECT coalesce(jsonb_agg(x), '[]'::jsonb) FROM ({query}) x");
        let lines = self.session(&[wrapped]).await?;
        let line = lines.last().ok_or("no output")?;
        match serde_json::from_str(line) {
            Ok(serde_json::Value::Array(rows)) => Ok(rows),
            _ => Err(format!("expected a JSON array, got {line:?}")),
        }
    }
}

/// psql's error line, without the noise around it.
fn first_error(output: &str) -> String {
    output
        .lines()
        .find(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"))
        .unwrap_or(output.trim())
        .trim()
        .to_string()
}

/// A SQL identifier, double-quoted.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            first_error("psql:x\nERROR:  relation \"t\" does not exist\nLINE 1"),
            "ERROR:  relation \"t\" does not exist"
        );
    }
}
