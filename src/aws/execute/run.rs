//! One run of a plan: how far each change got, and the report of a run a signal stopped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Mutex;

use anyhow::Result;
use serde::Serialize;

use super::Clients;
use crate::interrupt::{self, Signal};
use crate::plan::{Action, Mode, Plan, Resource};
use crate::ui::Progress;

/// One of the plan's changes, as `Plan::changes` orders them: its resource kind and its
/// index among the changes of that kind (only mappings have more than one).
pub(super) type Key = (Resource, usize);

/// How far the run got with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// A call of it was started (and may have finished), but not all of them.
    Started,
    /// All its calls were made (or it needed none).
    Done,
}

/// One run of a plan: the clients, the progress (with the run's stop flag), and how far each
/// change got, for the report of a stopped run.
pub(super) struct Run<'a> {
    pub(super) clients: &'a Clients,
    pub(super) progress: &'a Progress,
    states: Mutex<BTreeMap<Key, State>>,
}

impl<'a> Run<'a> {
    pub(super) fn new(clients: &'a Clients, progress: &'a Progress) -> Run<'a> {
        Run {
            clients,
            progress,
            states: Mutex::new(BTreeMap::new()),
        }
    }

    pub(super) fn set(&self, key: Key, state: State) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(key, state);
        }
    }

    /// Before each call (or wait) of `key`'s change: nothing new starts once the run is
    /// stopped; otherwise the change counts as started.
    pub(super) fn next(&self, key: Key) -> Result<()> {
        self.progress.stop_flag().check()?;
        if let Ok(mut states) = self.states.lock() {
            states.entry(key).or_insert(State::Started);
        }
        Ok(())
    }

    /// Run the calls of `key`'s change: `Some` with their result, `None` when the run was
    /// stopped before they were all made. Any other error ends the run as before.
    pub(super) async fn change<T>(
        &self,
        key: Key,
        calls: impl Future<Output = Result<T>>,
    ) -> Result<Option<T>> {
        match calls.await {
            Ok(value) => {
                self.set(key, State::Done);
                Ok(Some(value))
            }
            Err(e) if interrupt::cause(&e).is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The error of a stopped run, with what was done of the plan and what was not.
    pub(super) fn stopped(&self, plan: &Plan) -> anyhow::Error {
        let signal = self
            .progress
            .stop_flag()
            .signal()
            .unwrap_or(Signal::Interrupt);
        let states = self.states.lock().map(|s| s.clone()).unwrap_or_default();
        let mut seen: BTreeMap<Resource, usize> = BTreeMap::new();
        let mut report = Stopped {
            mode: plan.mode,
            signal,
            done: Vec::new(),
            unfinished: Vec::new(),
            not_started: Vec::new(),
        };
        for change in &plan.changes {
            let index = seen.entry(change.resource).or_default();
            let key = (change.resource, *index);
            *index += 1;
            let acts = !matches!(change.action, Action::NoOp | Action::Keep { .. });
            let item = Item {
                resource: change.resource,
                name: change.name.clone(),
            };
            match states.get(&key) {
                Some(State::Done) if acts => report.done.push(item),
                // A wait the plan shows as no change (a stream settling or being deleted).
                Some(State::Started) => report.unfinished.push(item),
                None if acts => report.not_started.push(item),
                _ => {}
            }
        }
        report.into()
    }
}

/// A run that a signal stopped: the plan's changes that were done, started but not finished
/// (a wait that was cut short, or some of a resource's calls), and not started.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error(
    "{} stopped by {}: {}\n  hint: run `kstream {}` again to finish; it continues from what exists",
    self.verb(), signal.name(), self.counts(), self.verb()
)]
pub struct Stopped {
    /// Apply or destroy.
    #[serde(skip)]
    pub mode: Mode,
    /// The signal.
    #[serde(serialize_with = "signal_name")]
    pub signal: Signal,
    /// Changes whose calls were all made.
    pub done: Vec<Item>,
    /// Changes with some calls made (or a wait cut short).
    pub unfinished: Vec<Item>,
    /// Changes none of whose calls were made.
    pub not_started: Vec<Item>,
}

fn signal_name<S: serde::Serializer>(signal: &Signal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(signal.name())
}

/// A change of the plan, named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Its kind.
    pub resource: Resource,
    /// Its name, as in the plan.
    pub name: String,
}

impl Stopped {
    fn verb(&self) -> &'static str {
        match self.mode {
            Mode::Apply => "apply",
            Mode::Destroy => "destroy",
        }
    }

    fn counts(&self) -> String {
        format!(
            "{} done, {} not finished, {} not started",
            self.done.len(),
            self.unfinished.len(),
            self.not_started.len()
        )
    }

    /// The report's lines for stderr: one per change, done first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (state, items) in [
            ("done", &self.done),
            ("not finished", &self.unfinished),
            ("not started", &self.not_started),
        ] {
            for item in items {
                let _ = writeln!(out, "  {state}: {} `{}`", item.resource.label(), item.name);
            }
        }
        out
    }

    /// The exit code: 128 + the signal's number.
    pub fn exit_code(&self) -> u8 {
        self.signal.exit_code()
    }
}
