//! SQL in the stack's database container: psql over the local socket as the database's
//! owner, each statement one argv element (never a shell), one output line per SELECT.

use bytes::Bytes;

use crate::api::validated::ValidatedStack;
use crate::docker::Engine;
use crate::plan::Plan;

/// Marks the audit's own statements, so its queries never count as the workload's.
pub const TAG: &str = "/* appstack-audit */";

/// A cap on what one session may print: the findings are small, a runaway is not.
const MAX_OUTPUT: usize = 8 << 20;

/// The database container and the role and database to sign in as.
pub struct Psql<'a, E: Engine> {
    pub engine: &'a E,
    container: String,
    user: String,
    database: String,
}

impl<'a, E: Engine> Psql<'a, E> {
    /// None when the stack has no database.
    pub fn of(engine: &'a E, stack: &ValidatedStack, plan: &Plan) -> Option<Self> {
        let db = stack.database.as_ref()?;
        Some(Psql {
            engine,
            container: plan.object_name("database"),
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
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let collect = async move {
            let mut out = Vec::new();
            while let Some(chunk) = rx.recv().await {
                if out.len() < MAX_OUTPUT {
                    out.extend_from_slice(&chunk);
                }
            }
            out
        };
        let (result, stdout) =
            tokio::join!(self.engine.exec_stream(&self.container, argv, tx), collect);
        let result = result.map_err(|e| e.to_string())?;
        if result.exit_code != 0 {
            return Err(first_error(&result.output));
        }
        Ok(String::from_utf8_lossy(&stdout)
            .lines()
            .map(str::to_string)
            .collect())
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
