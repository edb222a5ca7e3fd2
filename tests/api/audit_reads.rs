//! Reading the audit log: ListAuditEvents pages newest first and filters,
//! only owners, admins and platform admins read it, and platform admins
//! read and verify every project's at once.

use patchbay::{
    auth::Role,
    proto::v1::{
        AuditChainBreak, AuditEvent, ExportAuditEventsRequest, ListAuditEventsRequest,
        VerifyAuditLogRequest,
    },
};

use crate::{
    audit_log::{broken, five_changes, intact, tamper, verdict},
    connections::create_github,
    helpers::{TestApp, spawn_app},
};

/// Every page of ListAuditEvents on `parent` with `filter`, `size` at a time.
pub async fn list_all(
    app: &TestApp,
    token: &str,
    parent: &str,
    filter: &str,
    size: i32,
) -> Vec<AuditEvent> {
    let mut diagnostics = app.diagnostics(Some(token));
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = diagnostics
            .list_audit_events(ListAuditEventsRequest {
                parent: parent.into(),
                filter: filter.into(),
                page_size: size,
                page_token,
            })
            .await
            .expect("a page")
            .into_inner();
        assert!(page.audit_events.len() <= usize::try_from(size).unwrap_or(usize::MAX));
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn the_log_lists_newest_first_in_linked_pages_and_filters() {
    let app = spawn_app().await;
    five_changes(&app).await;
    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let events = list_all(&app, &owner, "projects/acme", "", 2).await;
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        (1..=5)
            .rev()
            .map(|seq| format!("projects/acme/auditEvents/{seq}"))
            .collect::<Vec<_>>()
    );
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].hash, pair[0].prev_hash,
            "each links to the one before"
        );
        assert_eq!(pair[0].hash.len(), 64, "hex SHA-256");
    }
    assert_eq!(events[3].method, "IntegrationRegistry.UpdateConnection");
    assert_eq!(events[3].changes[0].field, "display_name");
    assert_eq!(events[3].changes[0].after, "Web repo");
    assert_eq!(events[0].actor, "owner");
    assert!(events[0].time.is_some());

    assert_eq!(
        filtered(
            &app,
            &owner,
            r#"method = "IntegrationRegistry.RotateWebhookSecret""#
        )
        .await,
        ["projects/acme/auditEvents/4"]
    );
    assert_eq!(filtered(&app, &owner, "actor = owner").await.len(), 5);
    assert!(filtered(&app, &owner, "actor = mallory").await.is_empty());
    assert_eq!(
        filtered(&app, &owner, r#"resource = "projects/acme/connections/gh""#)
            .await
            .len(),
        5
    );
    let created = events[4].time.expect("a time");
    let after = chrono::DateTime::from_timestamp(
        created.seconds,
        u32::try_from(created.nanos).unwrap_or(0),
    )
    .expect("a time")
    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(
        filtered(&app, &owner, &format!("time_after = \"{after}\""))
            .await
            .len(),
        4,
        "strictly after the first"
    );
    assert_eq!(
        filtered(&app, &owner, &format!("time_before = \"{after}\""))
            .await
            .len(),
        0
    );

    let mut diagnostics = app.diagnostics(Some(&owner));
    for (filter, page_token) in [
        ("colour = red", ""),
        ("time_after = yesterday", ""),
        ("", "not-a-token"),
    ] {
        let status = diagnostics
            .list_audit_events(ListAuditEventsRequest {
                parent: "projects/acme".into(),
                filter: filter.into(),
                page_size: 0,
                page_token: page_token.into(),
            })
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{filter} {page_token}"
        );
    }
}

/// The names ListAuditEvents gives for `filter` in acme.
async fn filtered(app: &TestApp, token: &str, filter: &str) -> Vec<String> {
    list_all(app, token, "projects/acme", filter, 50)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[tokio::test]
async fn only_owners_admins_and_platform_admins_read_a_projects_log() {
    let app = spawn_app().await;
    five_changes(&app).await;
    create_github(&app, "other", "gh").await;
    let list = |token: String, parent: &'static str| {
        let app = &app;
        async move {
            app.diagnostics(Some(&token))
                .list_audit_events(ListAuditEventsRequest {
                    parent: parent.into(),
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().audit_events.len())
                .map_err(|s| s.code())
        }
    };
    let denied = Err(tonic::Code::PermissionDenied);
    assert_eq!(
        list(app.token("ed", &[("acme", Role::Editor)]), "projects/acme").await,
        denied
    );
    assert_eq!(
        list(app.token("ad", &[("acme", Role::Admin)]), "projects/acme").await,
        Ok(5)
    );
    assert_eq!(
        list(app.token("ad", &[("acme", Role::Admin)]), "projects/other").await,
        denied
    );
    assert_eq!(
        list(app.token("ow", &[("acme", Role::Owner)]), "projects/-").await,
        denied
    );
    assert_eq!(list(app.admin_token("root"), "projects/other").await, Ok(1));
    assert_eq!(list(app.admin_token("root"), "projects/-").await, Ok(6));
    let status = app
        .diagnostics(Some(&app.token("ed", &[("acme", Role::Editor)])))
        .verify_audit_log(VerifyAuditLogRequest {
            parent: "projects/acme".into(),
            ..Default::default()
        })
        .await
        .expect_err("editors may not");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(
        app.diagnostics(None)
            .verify_audit_log(VerifyAuditLogRequest {
                parent: "projects/acme".into(),
                ..Default::default()
            })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn every_projects_log_pages_newest_first_and_verifies_at_once() {
    let app = spawn_app().await;
    five_changes(&app).await;
    create_github(&app, "other", "gh").await;
    create_github(&app, "other", "gh2").await;
    let root = app.admin_token("root");
    let events = list_all(&app, &root, "projects/-", "", 3).await;
    assert_eq!(events.len(), 7, "five in acme, two in other");
    let times: Vec<_> = events
        .iter()
        .map(|e| e.time.map(|t| (t.seconds, t.nanos)))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(events[0].name, "projects/other/auditEvents/2");
    assert_eq!(verdict(&app, "projects/-").await, intact(7));

    tamper(
        &app,
        "UPDATE audit_events SET resource = 'x' WHERE project = 'other' AND seq = 2",
    )
    .await;
    assert_eq!(
        verdict(&app, "projects/-").await,
        broken(6, "projects/other/auditEvents/2", AuditChainBreak::Altered),
        "acme's five check out, then other's first"
    );
    assert_eq!(verdict(&app, "projects/acme").await, intact(5));
}

/// ExportAuditEvents on `parent` with `filter`, collected.
async fn export(
    app: &TestApp,
    token: &str,
    parent: &str,
    filter: &str,
) -> Result<Vec<AuditEvent>, tonic::Code> {
    let mut stream = app
        .diagnostics(Some(token))
        .export_audit_events(ExportAuditEventsRequest {
            parent: parent.into(),
            filter: filter.into(),
        })
        .await
        .map_err(|s| s.code())?
        .into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.map_err(|s| s.code())? {
        events.push(event);
    }
    Ok(events)
}

#[tokio::test]
async fn an_export_streams_every_entry_past_any_page_size() {
    let app = spawn_app().await;
    five_changes(&app).await;
    // More entries than one export page (500) and than a List page (1,000):
    // written directly, as the export does not check the chain.
    app.db()
        .await
        .execute(
            "INSERT INTO audit_events (project, seq, id, time, actor, method, resource, \
             request_id, peer, user_agent, outcome, changes, prev_hash, hash) \
             SELECT 'bulk', n, gen_random_uuid(), now() - make_interval(secs => 5000 - n), \
                    CASE WHEN n % 10 = 0 THEN 'tenth' ELSE 'bulk' END, 'M.N', 'r', NULL, \
                    '', '', 'OK', '[]', '\\x00', '\\x00' \
             FROM generate_series(1, 1234) n",
            &[],
        )
        .await
        .expect("bulk entries");
    let root = app.admin_token("root");
    let bulk = export(&app, &root, "projects/bulk", "")
        .await
        .expect("export");
    let seqs: Vec<String> = bulk.iter().map(|e| e.name.clone()).collect();
    let want: Vec<String> = (1..=1234)
        .rev()
        .map(|n| format!("projects/bulk/auditEvents/{n}"))
        .collect();
    assert_eq!(seqs, want, "every entry once, newest first");
    assert_eq!(
        export(&app, &root, "projects/bulk", "actor = tenth")
            .await
            .map(|e| e.len()),
        Ok(123)
    );
    assert_eq!(
        export(&app, &root, "projects/-", "").await.map(|e| e.len()),
        Ok(1239),
        "every project's"
    );

    let owner = app.token("owner", &[("acme", Role::Owner)]);
    let acme = export(&app, &owner, "projects/acme", "")
        .await
        .expect("export");
    assert_eq!(acme, list_all(&app, &owner, "projects/acme", "", 2).await);
    let editor = app.token("ed", &[("acme", Role::Editor)]);
    assert_eq!(
        export(&app, &editor, "projects/acme", "").await,
        Err(tonic::Code::PermissionDenied)
    );
    assert_eq!(
        export(&app, &owner, "projects/-", "").await,
        Err(tonic::Code::PermissionDenied)
    );
    assert_eq!(
        export(&app, &owner, "projects/acme", "colour = red").await,
        Err(tonic::Code::InvalidArgument)
    );
}
