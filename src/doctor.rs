//! `patchbay doctor`: DiagnoseProject (or GetServiceHealth without a
//! project) from a running server, as a report a person reads. One line per
//! check, the remediation under each that did not pass; colour on a
//! terminal, none when piped or with NO_COLOR. Critical issues make the
//! command fail, so scripts and CI can use it.

use std::{fmt::Write as _, io::IsTerminal as _, time::Duration};

use tonic::{Request, transport::Endpoint};

use crate::{
    auth::Role,
    commands::CommandError,
    config::DoctorArgs,
    proto::v1::{
        CheckResult, DiagnoseProjectRequest, GetServiceHealthRequest, HealthState,
        ProjectDiagnosis, ServiceHealth, diagnostics_client::DiagnosticsClient,
    },
};

pub async fn run(args: DoctorArgs) -> Result<(), CommandError> {
    let token = match &args.token {
        Some(token) => token.expose().clone(),
        None => mint(&args)?,
    };
    let channel = Endpoint::from_shared(args.server.clone())
        .map_err(|_| CommandError::Config("--server is not a URL"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|_| CommandError::Unreachable(args.server.clone()))?;
    let mut client = DiagnosticsClient::new(channel);
    let paint = Paint(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    let refused =
        |s: tonic::Status| CommandError::Refused(format!("{:?}: {}", s.code(), s.message()));
    let (report, critical) = match &args.project {
        Some(project) => {
            let name = format!("projects/{}", project.trim_start_matches("projects/"));
            let diagnosis = client
                .diagnose_project(authed(&token, DiagnoseProjectRequest { project: name }))
                .await
                .map_err(refused)?
                .into_inner();
            project_report(&diagnosis, paint)
        }
        None => {
            let health = client
                .get_service_health(authed(&token, GetServiceHealthRequest {}))
                .await
                .map_err(refused)?
                .into_inner();
            health_report(&health, paint)
        }
    };
    print!("{report}");
    if critical > 0 {
        return Err(CommandError::Critical(critical));
    }
    Ok(())
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A short-lived token for this one call, as `patchbay token` mints them.
fn mint(args: &DoctorArgs) -> Result<String, CommandError> {
    let projects: Vec<(String, Role)> = args
        .project
        .iter()
        .map(|p| (p.trim_start_matches("projects/").to_owned(), Role::Viewer))
        .collect();
    let (token, _) = crate::commands::mint(
        &args.auth,
        &args.data_dir.data_dir,
        "patchbay-doctor",
        &projects,
        false,
        Duration::from_secs(300),
    )?;
    Ok(token)
}

#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn mark(self, outcome: Mark) -> String {
        let (glyph, colour) = match outcome {
            Mark::Pass => ("ok  ", "32"),
            Mark::Warn => ("warn", "33"),
            Mark::Fail => ("FAIL", "31"),
        };
        if self.0 {
            format!("\u{1b}[{colour}m{glyph}\u{1b}[0m")
        } else {
            glyph.to_owned()
        }
    }

    fn bold(self, text: &str) -> String {
        if self.0 {
            format!("\u{1b}[1m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pass,
    Warn,
    Fail,
}

fn project_report(d: &ProjectDiagnosis, paint: Paint) -> (String, usize) {
    let mut out = String::new();
    let summary = d.summary.unwrap_or_default();
    let _ = writeln!(
        out,
        "{}: {} connections, {} passing, {} warning, {} failing",
        paint.bold(&d.project),
        summary.connections,
        summary.passing,
        summary.warning,
        summary.failing
    );
    let mut critical = 0;
    for connection in &d.connections {
        let _ = writeln!(out, "\n{}", paint.bold(&connection.connection));
        for check in &connection.checks {
            let mark = match CheckResult::try_from(check.result) {
                Ok(CheckResult::Pass) => Mark::Pass,
                Ok(CheckResult::Warn) => Mark::Warn,
                _ => Mark::Fail,
            };
            let reason = if mark == Mark::Pass {
                String::new()
            } else {
                format!("{}: ", check.reason)
            };
            let _ = writeln!(
                out,
                "  {} {:<17} {reason}{}",
                paint.mark(mark),
                check.name,
                check.message
            );
            if mark != Mark::Pass && !check.remediation.is_empty() {
                let run = if check.action.is_empty() {
                    String::new()
                } else {
                    format!(" (action: {})", check.action)
                };
                let _ = writeln!(out, "       -> {}{run}", check.remediation);
            }
        }
        critical += connection.critical_issues.len();
    }
    if critical > 0 {
        let _ = writeln!(out, "\n{critical} critical issues");
    }
    (out, critical)
}

fn health_report(h: &ServiceHealth, paint: Paint) -> (String, usize) {
    let mut out = String::new();
    let mut critical = 0;
    for c in &h.components {
        let mark = match HealthState::try_from(c.state) {
            Ok(HealthState::Healthy) => Mark::Pass,
            Ok(HealthState::Degraded) => Mark::Warn,
            _ => {
                critical += 1;
                Mark::Fail
            }
        };
        let _ = writeln!(out, "{} {:<18} {}", paint.mark(mark), c.name, c.detail);
    }
    let overall = HealthState::try_from(h.overall)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("HEALTH_STATE_")
                .to_owned()
        })
        .unwrap_or_default();
    let _ = writeln!(out, "overall: {}", paint.bold(&overall));
    (out, critical)
}
