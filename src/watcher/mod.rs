//! `patchbay watch --project P`: a project's status, live, in a terminal.
//! It holds a WatchProjectStatus stream and keeps it: a dropped stream, or
//! one silent for twice the heartbeat interval, is resumed from the last
//! sequence number it saw; when the server no longer has that position
//! (RESUME_POSITION_EXPIRED) it takes a fresh snapshot and says so. Each
//! of these is told on the terminal. Ctrl-C ends it cleanly.

mod render;

use std::{io::IsTerminal as _, time::Duration};

use tonic::{Request, transport::Endpoint};
use tonic_types::StatusExt as _;

use self::render::{Output, View};
use crate::{
    auth::Role,
    commands::CommandError,
    config::WatchArgs,
    proto::v1::{
        StatusUpdate, WatchProjectStatusRequest, status_service_client::StatusServiceClient,
        status_update::Event,
    },
};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a held stream ended.
enum Ended {
    /// Transport failure, server shutdown or silence: resume.
    Lost(String),
    /// The resume position is gone: watch again from a snapshot.
    Expired,
}

pub async fn run(args: WatchArgs) -> Result<(), CommandError> {
    let project = args.project.trim_start_matches("projects/").to_owned();
    let endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|_| CommandError::Config("--server is not a URL"))?
        .connect_timeout(Duration::from_secs(5))
        // Keepalive well inside servers' ping limits: every 30 s at most.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let mut out = Output::new(std::io::stdout().is_terminal());
    let mut view = View::default();
    let mut resume_from: Option<i64> = None;
    let mut backoff = FIRST_BACKOFF;
    let watching = async {
        loop {
            let token = token(&args, &project)?;
            match hold(
                &endpoint,
                &token,
                &project,
                &args,
                resume_from,
                &mut view,
                &mut out,
            )
            .await
            {
                Ok(Ended::Lost(why)) => {
                    if view.seq().is_some() {
                        backoff = FIRST_BACKOFF;
                    }
                    resume_from = view.seq().or(resume_from);
                    out.note(&match resume_from {
                        Some(seq) => format!(
                            "stream lost ({why}); resuming from seq {seq} in {} ms",
                            backoff.as_millis()
                        ),
                        None => format!(
                            "cannot watch ({why}); retrying in {} ms",
                            backoff.as_millis()
                        ),
                    });
                }
                Ok(Ended::Expired) => {
                    out.note("resume position expired; taking a fresh snapshot");
                    resume_from = None;
                    view.forget_position();
                    continue;
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    };
    tokio::select! {
        result = watching => result,
        _ = tokio::signal::ctrl_c() => {
            out.finish();
            Ok(())
        }
    }
}

/// One stream, from opening to its end; errors only for what retrying
/// cannot fix (a refused token, an unknown project).
async fn hold(
    endpoint: &Endpoint,
    token: &str,
    project: &str,
    args: &WatchArgs,
    resume_from: Option<i64>,
    view: &mut View,
    out: &mut Output,
) -> Result<Ended, CommandError> {
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(_) => return Ok(Ended::Lost(format!("{} unreachable", args.server))),
    };
    let mut request = Request::new(WatchProjectStatusRequest {
        project: format!("projects/{project}"),
        resume_from,
        heartbeat_interval: Some(prost_types::Duration {
            seconds: i64::try_from(args.heartbeat.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(args.heartbeat.subsec_nanos()).unwrap_or(0),
        }),
        include_types: Vec::new(),
    });
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    let mut stream = match StatusServiceClient::new(channel)
        .watch_project_status(request)
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) => return ended_by(status),
    };
    if let Some(seq) = resume_from {
        out.note(&format!("resumed at seq {seq}"));
    }
    let silence = args.heartbeat * 2;
    loop {
        let update: StatusUpdate = match tokio::time::timeout(silence, stream.message()).await {
            Err(_) => {
                return Ok(Ended::Lost(format!(
                    "silent for {} s",
                    silence.as_secs_f64()
                )));
            }
            Ok(Ok(Some(update))) => update,
            Ok(Ok(None)) => return Ok(Ended::Lost("the server ended the stream".into())),
            Ok(Err(status)) => return ended_by(status),
        };
        match update.event {
            Some(Event::Snapshot(envelope)) => {
                let changes = view.replace(envelope, update.seq);
                out.changes(view, &changes);
            }
            Some(Event::SnapshotEnd(_)) => {}
            Some(Event::ItemChanged(changed)) => {
                if let Some(item) = changed.item {
                    let change = view.upsert(item, update.seq);
                    out.changes(view, &[change]);
                }
            }
            Some(Event::ItemRemoved(removed)) => {
                let change = view.remove(&removed.connection, update.seq);
                out.changes(view, &[change]);
            }
            Some(Event::Alert(event)) => {
                if let Some(alert) = event.alert {
                    out.alert(&alert);
                }
                view.advance(update.seq);
            }
            Some(
                Event::Heartbeat(_)
                | Event::ActionProgress(_)
                | Event::WebhookReceived(_)
                | Event::Run(_),
            )
            | None => view.advance(update.seq),
        }
    }
}

fn ended_by(status: tonic::Status) -> Result<Ended, CommandError> {
    let reason = status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default();
    match status.code() {
        tonic::Code::OutOfRange if reason == "RESUME_POSITION_EXPIRED" => Ok(Ended::Expired),
        tonic::Code::Unavailable
        | tonic::Code::Unknown
        | tonic::Code::Cancelled
        | tonic::Code::Internal
        | tonic::Code::DeadlineExceeded
        | tonic::Code::ResourceExhausted => Ok(Ended::Lost(format!(
            "{:?}: {}",
            status.code(),
            status.message()
        ))),
        code => Err(CommandError::Refused(format!(
            "{code:?}: {}",
            status.message()
        ))),
    }
}

/// `--token`, or a fresh one minted as `patchbay token` would, each time
/// the stream is opened, so a long watch outlives any one token.
fn token(args: &WatchArgs, project: &str) -> Result<String, CommandError> {
    if let Some(token) = &args.token {
        return Ok(token.expose().clone());
    }
    let (token, _) = crate::commands::mint(
        &args.auth,
        &args.data_dir.data_dir,
        "patchbay-watch",
        &[(project.to_owned(), Role::Viewer)],
        false,
        Duration::from_secs(3600),
    )?;
    Ok(token)
}
