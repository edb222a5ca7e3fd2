//! `patchbay doctor` against a running server: a report a person reads,
//! without colour when piped, failing when there are critical issues.

use std::process::Output;

use patchbay::{auth::Role, proto::v1::CircuitState};
use tokio::process::Command;

use crate::{
    fakes::{FakeProvider, Reply},
    helpers::TestApp,
    status::{connected_app, wait_for},
};

async fn doctor(app: &TestApp, token: &str, project: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.env_remove("PATCHBAY_TOKEN")
        .args(["doctor", "--server", &format!("http://{}", app.grpc_addr)])
        .args(["--token", token]);
    if let Some(project) = project {
        cmd.args(["--project", project]);
    }
    cmd.output().await.expect("doctor runs")
}

#[tokio::test]
async fn doctor_reports_a_broken_connection_and_fails() {
    let fake = FakeProvider::start().await;
    crate::status::fresh_repo(&fake, "acme", "web", 1);
    let app = connected_app(&fake).await;
    let viewer = app.token("viewer", &[("acme", Role::Viewer)]);

    let healthy = doctor(&app, &viewer, None).await;
    let text = String::from_utf8_lossy(&healthy.stdout);
    assert!(healthy.status.success(), "{text}");
    assert!(text.contains("database"), "{text}");
    assert!(text.contains("overall: HEALTHY"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when piped: {text}");

    // The provider refuses the token and then fails until the circuit opens.
    fake.set("/repos/acme/web", Reply::status(401));
    let broken = doctor(&app, &viewer, Some("acme")).await;
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(
        !broken.status.success(),
        "critical issues fail the command:\n{text}"
    );
    assert!(text.contains("projects/acme/connections/web"), "{text}");
    assert!(text.contains("FAIL live_probe"), "{text}");
    assert!(text.contains("PROBE_FAILED: UNAUTHORIZED"), "{text}");
    assert!(
        text.contains("-> "),
        "remediation under the failure: {text}"
    );
    assert!(text.contains("(action: test-connection)"), "{text}");
    assert!(text.contains("critical issues"), "{text}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("critical issues found"), "{stderr}");

    fake.set("/repos/acme/web", Reply::status(503));
    wait_for(&app, "web", "OPEN", |i| {
        i.circuit_state == i32::from(CircuitState::Open)
    })
    .await;
    let open = doctor(&app, &viewer, Some("acme")).await;
    let text = String::from_utf8_lossy(&open.stdout);
    assert!(text.contains("warn circuit"), "{text}");

    let refused = doctor(&app, "not-a-token", None).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
