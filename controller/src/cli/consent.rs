//! `baton consent approve|deny|defer [--for SECONDS] [--question ID]`: the owner's answer to
//! the question the deployment waits on (`baton status` shows it), through the running
//! controller. Kanto's MQTT `ownerconsentfeedback` answers the same question; the first
//! answer wins.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::view::{self, structured, View};
use super::{exit, CliError, GlobalArgs};
use crate::wire::ConsentRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Answer {
    /// Let the deployment go on.
    Approve,
    /// End the deployment (what was installed is rolled back).
    Deny,
    /// Ask again later.
    Defer,
}

#[derive(Debug, Args)]
pub struct ConsentArgs {
    /// The answer
    #[arg(value_enum)]
    pub answer: Answer,
    /// defer: ask again after this many seconds [default: 600]
    #[arg(long = "for", value_name = "SECONDS")]
    pub for_seconds: Option<u64>,
    /// The question's id (as `baton status` shows it); default: the open one
    #[arg(long, value_name = "ID")]
    pub question: Option<u64>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: View,
}

/// The request an answer makes (pure).
pub fn request(args: &ConsentArgs) -> Result<ConsentRequest, String> {
    if args.for_seconds.is_some() && args.answer != Answer::Defer {
        return Err("--for goes with `defer` only".into());
    }
    Ok(ConsentRequest {
        question: args.question,
        answer: match args.answer {
            Answer::Approve => "approve",
            Answer::Deny => "deny",
            Answer::Defer => "defer",
        }
        .into(),
        for_seconds: args.for_seconds,
    })
}

pub async fn run(
    global: &GlobalArgs,
    args: &ConsentArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let req = request(args).map_err(CliError::Usage)?;
    let reply = view::daemon(global).await?.consent(&req).await?;
    if !structured(args.output, &reply, out)? {
        let q = &reply.question;
        writeln!(
            out,
            "{} question {} ({} of '{}', deployment {})",
            reply.answer, q.id, q.phase, q.manifest, q.deployment
        )?;
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(answer: Answer, for_seconds: Option<u64>) -> ConsentArgs {
        ConsentArgs {
            answer,
            for_seconds,
            question: Some(3),
            output: View::default(),
        }
    }

    #[test]
    fn answers_become_requests() {
        let r = request(&args(Answer::Defer, Some(60))).unwrap();
        assert_eq!(
            (r.answer.as_str(), r.for_seconds, r.question),
            ("defer", Some(60), Some(3))
        );
        assert_eq!(
            request(&args(Answer::Approve, None)).unwrap().answer,
            "approve"
        );
        assert!(request(&args(Answer::Deny, Some(5))).is_err());
    }
}
