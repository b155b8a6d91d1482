//! Owner consent: before the phases `OwnerConsent.Before` names, the owner is asked whether
//! the deployment may go on, and the deployment waits for the answer.
//!
//! One question at a time (a new one withdraws the old); answers are `approve`, `deny` or
//! `defer` (ask again after a while). The same question is answered from any door, the first
//! answer winning: `POST /v1/consent` and `baton consent` through the [`Desk`], Kanto's MQTT
//! `ownerconsentfeedback` through [`crate::kanto::edge::ConsentDesk`] (implemented here). A
//! question nobody answers within `TimeoutSeconds` gets the `OnTimeout` answer. Deny ends the
//! deployment (`ConsentDenied`): before Download nothing was touched; later the engine rolls
//! back what was installed.
//!
//! [`Book`] is the pure part (time is a `Duration` on tokio's clock, passed in); the desk
//! keeps it behind a lock and publishes the open question for status and Kanto.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::clock::{self, Clock};
use super::seam::{deployment_of, BoxFuture, Gate, GateContext, GatePhase, GatePoint, Verdict};
use crate::config::OnTimeout;
use crate::model::{ConsentQuestion, Reason};

/// A question to the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u64,
    pub deployment: String,
    pub manifest: String,
    pub phase: GatePhase,
    pub asked_at: Duration,
    pub deadline: Option<Duration>,
}

/// An answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Approve,
    Deny,
    /// Withdraw the question and ask again after this long.
    Defer(Duration),
}

impl Answer {
    pub fn word(self) -> &'static str {
        match self {
            Answer::Approve => "approve",
            Answer::Deny => "deny",
            Answer::Defer(_) => "defer",
        }
    }
}

/// What a poll of the book says for a deployment at a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// A question is open (just asked, or still waiting).
    Waiting(Question),
    Approved,
    Denied(String),
    Deferred {
        until: Duration,
    },
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("no question is open")]
    NoQuestion,
    #[error("question {asked} is not open (the open question is {open})")]
    NotOpen { asked: u64, open: u64 },
    #[error("question {0} was already answered")]
    AlreadyAnswered(u64),
}

/// The questions and answers (pure).
#[derive(Debug, Clone)]
pub struct Book {
    timeout: Option<Duration>,
    on_timeout: OnTimeout,
    next_id: u64,
    open: Option<Question>,
    /// The answer to the open question, until the gate polls it.
    answer: Option<(Answer, String)>,
    /// A deferral: (deployment, phase, ask again at).
    deferred: Option<(String, GatePhase, Duration)>,
}

impl Book {
    pub fn new(timeout: Option<Duration>, on_timeout: OnTimeout) -> Self {
        Self {
            timeout,
            on_timeout,
            next_id: 1,
            open: None,
            answer: None,
            deferred: None,
        }
    }

    /// The open question nobody answered yet.
    pub fn open(&self) -> Option<&Question> {
        self.open.as_ref().filter(|_| self.answer.is_none())
    }

    /// Where `deployment` stands at `phase`, asking when it must.
    pub fn poll(
        &mut self,
        deployment: &str,
        manifest: &str,
        phase: GatePhase,
        now: Duration,
    ) -> Poll {
        let ours = |q: &Question| q.deployment == deployment && q.phase == phase;
        if let Some((d, p, until)) = &self.deferred {
            if d == deployment && *p == phase {
                if now < *until {
                    return Poll::Deferred { until: *until };
                }
                self.deferred = None;
            }
        }
        if self.open.as_ref().is_some_and(ours) {
            if let Some((answer, by)) = self.answer.take() {
                self.open = None;
                return match answer {
                    Answer::Approve => Poll::Approved,
                    Answer::Deny => Poll::Denied(format!("denied by {by}")),
                    Answer::Defer(d) => {
                        let until = now + d;
                        self.deferred = Some((deployment.to_string(), phase, until));
                        Poll::Deferred { until }
                    }
                };
            }
            let q = self.open.clone().expect("checked above");
            if q.deadline.is_some_and(|d| now >= d) {
                self.open = None;
                let waited = self.timeout.unwrap_or_default().as_secs();
                return match self.on_timeout {
                    OnTimeout::Approve => Poll::Approved,
                    OnTimeout::Deny => Poll::Denied(format!(
                        "no answer within {waited} s (OwnerConsent.OnTimeout deny)"
                    )),
                };
            }
            return Poll::Waiting(q);
        }
        // A new question withdraws any other.
        let q = Question {
            id: self.next_id,
            deployment: deployment.to_string(),
            manifest: manifest.to_string(),
            phase,
            asked_at: now,
            deadline: self.timeout.map(|t| now + t),
        };
        self.next_id += 1;
        self.open = Some(q.clone());
        self.answer = None;
        Poll::Waiting(q)
    }

    /// Answers the open question (`question`: the id the answerer saw; `None`: whatever is
    /// open). The first answer wins.
    pub fn answer(
        &mut self,
        question: Option<u64>,
        a: Answer,
        by: &str,
    ) -> Result<Question, AnswerError> {
        let open = self.open.as_ref().ok_or(AnswerError::NoQuestion)?;
        if let Some(id) = question.filter(|id| *id != open.id) {
            return Err(AnswerError::NotOpen {
                asked: id,
                open: open.id,
            });
        }
        if self.answer.is_some() {
            return Err(AnswerError::AlreadyAnswered(open.id));
        }
        self.answer = Some((a, by.to_string()));
        Ok(open.clone())
    }

    /// The deployment ended: its question and deferral go.
    pub fn withdraw(&mut self, deployment: &str) {
        if self
            .open
            .as_ref()
            .is_some_and(|q| q.deployment == deployment)
        {
            self.open = None;
            self.answer = None;
        }
        if self
            .deferred
            .as_ref()
            .is_some_and(|(d, _, _)| d == deployment)
        {
            self.deferred = None;
        }
    }
}

/// The desk every door answers through: the book, and the open question published.
pub struct Desk {
    book: Mutex<Book>,
    origin: Instant,
    clock: Arc<dyn Clock>,
    published: watch::Sender<Option<ConsentQuestion>>,
}

impl Desk {
    pub fn new(timeout_seconds: u64, on_timeout: OnTimeout, clock: Arc<dyn Clock>) -> Self {
        let timeout = (timeout_seconds > 0).then(|| Duration::from_secs(timeout_seconds));
        Self {
            book: Mutex::new(Book::new(timeout, on_timeout)),
            origin: Instant::now(),
            clock,
            published: watch::channel(None).0,
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The wall time of a book time.
    pub fn wall(&self, at: Duration) -> std::time::SystemTime {
        let (wall, now) = (self.clock.wall(), self.now());
        if at >= now {
            wall + (at - now)
        } else {
            wall - (now - at)
        }
    }

    /// A book time as an RFC 3339 stamp.
    fn stamp(&self, at: Duration) -> String {
        clock::stamp(self.wall(at))
    }

    fn view(&self, q: &Question) -> ConsentQuestion {
        ConsentQuestion {
            id: q.id,
            deployment: q.deployment.clone(),
            manifest: q.manifest.clone(),
            phase: q.phase.as_str().to_string(),
            asked_at: self.stamp(q.asked_at),
            deadline: q.deadline.map(|d| self.stamp(d)),
        }
    }

    fn publish(&self, book: &Book) {
        let open = book.open().map(|q| self.view(q));
        self.published.send_if_modified(|cur| {
            let changed = cur.as_ref().map(|c| c.id) != open.as_ref().map(|o| o.id);
            *cur = open;
            changed
        });
    }

    /// The open question, as status shows it; changes whenever one is asked or settled.
    pub fn subscribe(&self) -> watch::Receiver<Option<ConsentQuestion>> {
        self.published.subscribe()
    }

    pub fn open_question(&self) -> Option<ConsentQuestion> {
        self.published.borrow().clone()
    }

    pub fn poll(&self, deployment: &str, manifest: &str, phase: GatePhase) -> Poll {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let p = book.poll(deployment, manifest, phase, self.now());
        self.publish(&book);
        p
    }

    /// An answer from `by` (`api`, `cli`, `kanto`).
    pub fn answer(
        &self,
        question: Option<u64>,
        a: Answer,
        by: &str,
    ) -> Result<ConsentQuestion, AnswerError> {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let q = book.answer(question, a, by)?;
        tracing::info!(question = q.id, deployment = %q.deployment, phase = q.phase.as_str(), answer = a.word(), by, "consent answered");
        self.publish(&book);
        Ok(self.view(&q))
    }

    pub fn withdraw(&self, deployment: &str) {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book.withdraw(deployment);
        self.publish(&book);
    }
}

/// The consent gate: asks before the configured phases.
pub struct ConsentGate {
    pub desk: Arc<Desk>,
    before: Vec<GatePhase>,
}

impl ConsentGate {
    pub fn new(desk: Arc<Desk>, before: Vec<GatePhase>) -> Self {
        Self { desk, before }
    }

    fn decide(&self, phase: GatePhase, ctx: &GateContext) -> Verdict {
        if !self.before.contains(&phase) {
            return Verdict::Proceed;
        }
        match self.desk.poll(deployment_of(ctx), &ctx.manifest, phase) {
            Poll::Approved => Verdict::Proceed,
            Poll::Denied(why) => Verdict::Refuse {
                reason: Reason::ConsentDenied,
                message: format!("consent to {} '{}' {why}", phase.as_str(), ctx.manifest),
            },
            Poll::Deferred { until } => Verdict::Wait {
                reason: Reason::AwaitingConsent,
                until: Some(self.desk.wall(until)),
                message: format!(
                    "the owner deferred {} of '{}'; asking again at {}",
                    phase.as_str(),
                    ctx.manifest,
                    self.desk.stamp(until)
                ),
            },
            Poll::Waiting(q) => Verdict::Wait {
                reason: Reason::AwaitingConsent,
                until: q.deadline.map(|d| self.desk.wall(d)),
                message: format!(
                    "asking the owner (question {}) whether '{}' may go on to {}: `baton consent approve|deny|defer`",
                    q.id,
                    ctx.manifest,
                    phase.as_str()
                ),
            },
        }
    }
}

impl Gate for ConsentGate {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        let v = match ctx.point {
            GatePoint::BeforePhase(p) => self.decide(p, ctx),
            _ => Verdict::Proceed,
        };
        Box::pin(std::future::ready(v))
    }
}

/// Kanto's owner consent answers the same question (`ownerconsentfeedback`).
impl crate::kanto::edge::ConsentDesk for Desk {
    fn answer(&self, question: u64, answer: crate::kanto::edge::ConsentAnswer) {
        use crate::kanto::edge::ConsentAnswer;
        let a = match answer {
            ConsentAnswer::Approved => Answer::Approve,
            ConsentAnswer::Denied { .. } => Answer::Deny,
        };
        // The first answer wins; a later one from Kanto is only logged.
        if let Err(e) = Desk::answer(self, Some(question), a, "kanto") {
            tracing::info!(question, error = %e, "Kanto's consent answer not taken");
        }
    }
}

/// The phase a Kanto consent command names (`Kanto.OwnerConsentCommands`).
pub fn phase_of_kanto(c: crate::kanto::wire::ConsentCommand) -> GatePhase {
    use crate::kanto::wire::ConsentCommand;
    match c {
        ConsentCommand::Download => GatePhase::Download,
        ConsentCommand::Update => GatePhase::Install,
        ConsentCommand::Activate => GatePhase::Activate,
    }
}

/// Kanto's word for a phase (`DOWNLOAD`, `UPDATE`, `ACTIVATE`).
pub fn kanto_command(phase: GatePhase) -> crate::kanto::wire::ConsentCommand {
    use crate::kanto::wire::ConsentCommand;
    match phase {
        GatePhase::Download => ConsentCommand::Download,
        GatePhase::Install => ConsentCommand::Update,
        GatePhase::Activate => ConsentCommand::Activate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::seam::{at, context};

    const S: Duration = Duration::from_secs(1);

    fn book(timeout: Option<u64>, on: OnTimeout) -> Book {
        Book::new(timeout.map(Duration::from_secs), on)
    }

    fn waiting(p: Poll) -> Question {
        match p {
            Poll::Waiting(q) => q,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn approve_deny_defer_and_timeouts() {
        use GatePhase::*;
        let mut b = book(Some(60), OnTimeout::Deny);
        let q = waiting(b.poll("d1", "m", Download, Duration::ZERO));
        assert_eq!((q.id, q.deadline), (1, Some(60 * S)));
        // Asked again while open: the same question.
        assert_eq!(waiting(b.poll("d1", "m", Download, 5 * S)).id, 1);
        assert_eq!(b.answer(Some(1), Answer::Approve, "cli").unwrap().id, 1);
        assert!(b.open().is_none(), "answered: not open any more");
        assert_eq!(
            b.answer(None, Answer::Deny, "api"),
            Err(AnswerError::AlreadyAnswered(1))
        );
        assert_eq!(b.poll("d1", "m", Download, 6 * S), Poll::Approved);
        assert_eq!(
            b.answer(None, Answer::Deny, "api"),
            Err(AnswerError::NoQuestion)
        );

        // Install: deferred for 30 s, then asked again with a new id.
        let q = waiting(b.poll("d1", "m", Install, 10 * S));
        assert_eq!(q.id, 2);
        assert_eq!(
            b.answer(Some(7), Answer::Deny, "api"),
            Err(AnswerError::NotOpen { asked: 7, open: 2 })
        );
        b.answer(None, Answer::Defer(30 * S), "cli").unwrap();
        assert_eq!(
            b.poll("d1", "m", Install, 11 * S),
            Poll::Deferred { until: 41 * S }
        );
        assert_eq!(
            b.poll("d1", "m", Install, 40 * S),
            Poll::Deferred { until: 41 * S }
        );
        let q = waiting(b.poll("d1", "m", Install, 41 * S));
        assert_eq!((q.id, q.deadline), (3, Some(101 * S)));
        b.answer(Some(3), Answer::Deny, "kanto").unwrap();
        assert_eq!(
            b.poll("d1", "m", Install, 42 * S),
            Poll::Denied("denied by kanto".into())
        );

        // Activate: nobody answers; OnTimeout deny.
        waiting(b.poll("d2", "m", Activate, 100 * S));
        assert!(matches!(
            b.poll("d2", "m", Activate, 159 * S),
            Poll::Waiting(_)
        ));
        assert_eq!(
            b.poll("d2", "m", Activate, 160 * S),
            Poll::Denied("no answer within 60 s (OwnerConsent.OnTimeout deny)".into())
        );
        let mut b = book(Some(60), OnTimeout::Approve);
        waiting(b.poll("d3", "m", Activate, Duration::ZERO));
        assert_eq!(b.poll("d3", "m", Activate, 60 * S), Poll::Approved);
        // No timeout: asked until answered.
        let mut b = book(None, OnTimeout::Deny);
        assert_eq!(
            waiting(b.poll("d4", "m", Download, Duration::ZERO)).deadline,
            None
        );
        assert!(matches!(
            b.poll("d4", "m", Download, 1_000_000 * S),
            Poll::Waiting(_)
        ));
    }

    #[test]
    fn one_question_at_a_time_and_withdrawn_with_its_deployment() {
        let mut b = book(None, OnTimeout::Deny);
        waiting(b.poll("old", "m1", GatePhase::Download, Duration::ZERO));
        let q = waiting(b.poll("new", "m2", GatePhase::Download, S));
        assert_eq!((q.id, q.deployment.as_str()), (2, "new"));
        assert_eq!(
            b.answer(Some(1), Answer::Approve, "api"),
            Err(AnswerError::NotOpen { asked: 1, open: 2 })
        );
        b.withdraw("new");
        assert!(b.open().is_none());
        assert_eq!(
            b.answer(None, Answer::Approve, "api"),
            Err(AnswerError::NoQuestion)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_asks_only_before_its_phases_and_publishes_the_question() {
        let clock = Arc::new(super::super::clock::TokioWall::starting_at(
            clock::from_epoch(1_700_000_000),
        ));
        let desk = Arc::new(Desk::new(0, OnTimeout::Deny, clock));
        let gate = ConsentGate::new(desk.clone(), vec![GatePhase::Install]);
        let ctx = context("d", "sys-2");
        let mut seen = desk.subscribe();
        assert_eq!(
            gate.check(&at(GatePoint::BeforePhase(GatePhase::Download), &ctx))
                .await,
            Verdict::Proceed
        );
        assert_eq!(
            gate.check(&at(GatePoint::BeforeFirstState, &ctx)).await,
            Verdict::Proceed
        );
        let v = gate
            .check(&at(GatePoint::BeforePhase(GatePhase::Install), &ctx))
            .await;
        assert!(
            matches!(&v, Verdict::Wait { reason: Reason::AwaitingConsent, until: None, message } if message.contains("question 1")),
            "{v:?}"
        );
        assert!(seen.has_changed().unwrap());
        let q = seen.borrow_and_update().clone().unwrap();
        assert_eq!(
            (q.id, q.phase.as_str(), q.asked_at.as_str()),
            (1, "Install", "2023-11-14T22:13:20Z")
        );
        crate::kanto::edge::ConsentDesk::answer(
            &*desk,
            1,
            crate::kanto::edge::ConsentAnswer::Denied {
                reason: "no".into(),
            },
        );
        assert_eq!(desk.open_question(), None);
        let v = gate
            .check(&at(GatePoint::BeforePhase(GatePhase::Install), &ctx))
            .await;
        assert_eq!(
            v,
            Verdict::Refuse {
                reason: Reason::ConsentDenied,
                message: "consent to Install 'sys-2' denied by kanto".into()
            }
        );
    }
}
