//! What `patchbay watch` shows: on a terminal, a table of the project's
//! connections redrawn in place under a line saying how the stream stands;
//! piped, one line per change on stdout and the stream's news on stderr,
//! so the output stays easy to parse.

use std::{
    collections::BTreeMap,
    io::{Write as _, stderr, stdout},
};

use crate::proto::v1::{IntegrationStatus, StatusEnvelope, StatusLevel};

/// One connection as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    integration_type: String,
    level: &'static str,
    summary: String,
    stale: bool,
}

impl Row {
    fn of(item: &IntegrationStatus) -> Self {
        Self {
            integration_type: item
                .integration_type
                .trim_start_matches("integrationTypes/")
                .to_owned(),
            level: level_name(item.status()),
            summary: item.summary.clone(),
            stale: item.stale,
        }
    }
}

fn level_name(level: StatusLevel) -> &'static str {
    match level {
        StatusLevel::Unspecified => "UNKNOWN",
        StatusLevel::Connected => "CONNECTED",
        StatusLevel::Warning => "WARNING",
        StatusLevel::Error => "ERROR",
        StatusLevel::Disconnected => "DISCONNECTED",
    }
}

/// A connection that changed, by its id in the project.
pub enum Change {
    Shown(String),
    Removed(String),
    Nothing,
}

/// The project as the watch has seen it.
#[derive(Default)]
pub struct View {
    rows: BTreeMap<String, Row>,
    seq: Option<i64>,
}

fn short(connection: &str) -> String {
    connection
        .rsplit_once("/connections/")
        .map_or(connection, |(_, id)| id)
        .to_owned()
}

impl View {
    /// The last position seen, to resume from.
    pub fn seq(&self) -> Option<i64> {
        self.seq
    }

    /// Rows are kept (to tell what a resync changed), the position is not.
    pub fn forget_position(&mut self) {
        self.seq = None;
    }

    pub fn advance(&mut self, seq: i64) {
        self.seq = Some(seq);
    }

    /// A snapshot: the whole project, and what differs from before.
    pub fn replace(&mut self, envelope: StatusEnvelope, seq: i64) -> Vec<Change> {
        let fresh: BTreeMap<String, Row> = envelope
            .items
            .iter()
            .map(|item| (short(&item.connection), Row::of(item)))
            .collect();
        let mut changes: Vec<Change> = self
            .rows
            .keys()
            .filter(|id| !fresh.contains_key(*id))
            .map(|id| Change::Removed(id.clone()))
            .collect();
        changes.extend(
            fresh
                .iter()
                .filter(|(id, row)| self.rows.get(*id) != Some(row))
                .map(|(id, _)| Change::Shown(id.clone())),
        );
        self.rows = fresh;
        self.seq = Some(seq);
        changes
    }

    pub fn upsert(&mut self, item: IntegrationStatus, seq: i64) -> Change {
        self.seq = Some(seq);
        let id = short(&item.connection);
        let row = Row::of(&item);
        if self.rows.get(&id) == Some(&row) {
            return Change::Nothing;
        }
        self.rows.insert(id.clone(), row);
        Change::Shown(id)
    }

    pub fn remove(&mut self, connection: &str, seq: i64) -> Change {
        self.seq = Some(seq);
        let id = short(connection);
        match self.rows.remove(&id) {
            Some(_) => Change::Removed(id),
            None => Change::Nothing,
        }
    }
}

/// Where the view goes.
pub struct Output {
    terminal: bool,
    /// The latest news, shown under the table on a terminal.
    note: String,
}

fn now() -> String {
    chrono::Utc::now().format("%H:%M:%S").to_string()
}

impl Output {
    pub fn new(terminal: bool) -> Self {
        Self {
            terminal,
            note: "connecting".into(),
        }
    }

    /// News about the stream itself: lost, resumed, resynced.
    pub fn note(&mut self, note: &str) {
        self.note = format!("{} {note}", now());
        if !self.terminal {
            let _ = writeln!(stderr(), "{} watch: {note}", now());
        }
    }

    /// An alert fired or resolved: a line of its own on stdout.
    pub fn alert(&mut self, alert: &crate::proto::v1::Alert) {
        let state = match crate::proto::v1::AlertState::try_from(alert.state) {
            Ok(crate::proto::v1::AlertState::Resolved) => "resolved",
            _ => "firing",
        };
        let line = format!(
            "{} alert {state}: {} on {}: {}",
            now(),
            alert.rule,
            alert.connection,
            alert.summary
        );
        if self.terminal {
            self.note = line;
        } else {
            let _ = writeln!(stdout(), "{line}");
        }
    }

    pub fn changes(&mut self, view: &View, changes: &[Change]) {
        if self.terminal {
            self.redraw(view);
            return;
        }
        let mut out = stdout().lock();
        for change in changes {
            let line = match change {
                Change::Shown(id) => match view.rows.get(id) {
                    Some(row) => line(id, row),
                    None => continue,
                },
                Change::Removed(id) => format!("{} {id} REMOVED", now()),
                Change::Nothing => continue,
            };
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    fn redraw(&self, view: &View) {
        let width = view
            .rows
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(10)
            .max(10);
        let mut screen = String::from("\u{1b}[H\u{1b}[2J");
        screen.push_str(&format!(
            "{:width$}  {:12}  {:10}  SUMMARY\n",
            "CONNECTION", "STATUS", "TYPE"
        ));
        for (id, row) in &view.rows {
            let stale = if row.stale { " (stale)" } else { "" };
            screen.push_str(&format!(
                "{id:width$}  {:12}  {:10}  {}{stale}\n",
                row.level, row.integration_type, row.summary
            ));
        }
        let seq = view.seq.map_or_else(String::new, |s| format!(" · seq {s}"));
        screen.push_str(&format!("\n{}{seq} · Ctrl-C to quit\n", self.note));
        let mut out = stdout().lock();
        let _ = out.write_all(screen.as_bytes());
        let _ = out.flush();
    }

    /// Leaves the terminal tidy on Ctrl-C.
    pub fn finish(&self) {
        if self.terminal {
            let _ = writeln!(stdout());
        } else {
            let _ = writeln!(stderr(), "{} watch: stopped", now());
        }
    }
}

fn line(id: &str, row: &Row) -> String {
    let stale = if row.stale { " (stale)" } else { "" };
    format!(
        "{} {id} {} {} {}{stale}",
        now(),
        row.level,
        row.integration_type,
        row.summary
    )
}
