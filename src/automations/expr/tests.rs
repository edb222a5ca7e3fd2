use serde_json::{Map, Value, json};

use super::*;

fn doc() -> Map<String, Value> {
    match json!({
        "event_type": "push",
        "connection": "projects/acme/connections/gh",
        "payload": {
            "ref": "refs/heads/main",
            "deleted": false,
            "forced": true,
            "size": 3,
            "commits": [{"id": "abc", "message": "fix: things"}, {"id": "def"}],
            "labels": ["deploy", "urgent"],
            "repository": {"name": "web", "private": true, "stars": 0},
            "x-delivery": "d-1"
        }
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn holds(source: &str) -> bool {
    Expr::parse(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .holds(&doc())
}

#[test]
fn comparisons_over_paths() {
    for (source, expected) in [
        ("payload.ref == \"refs/heads/main\"", true),
        ("payload.ref == 'refs/heads/dev'", false),
        ("payload.ref != 'refs/heads/dev'", true),
        ("payload.size > 2", true),
        ("payload.size >= 3", true),
        ("payload.size < 3", false),
        ("payload.size <= 3.0", true),
        ("payload.size == 3.0", true),
        ("payload.repository.name < 'zzz'", true),
        ("payload.size > 'a'", false),
        ("payload.commits[0].id == 'abc'", true),
        ("payload.commits[1].message == null", true),
        ("payload.commits[5].id == null", true),
        ("payload.missing.deeper == null", true),
        ("payload.x-delivery == 'd-1'", true),
        ("event_type in ['push', 'pull_request']", true),
        ("event_type in []", false),
        ("payload.size in [1, 2, 3]", true),
        ("payload.labels contains 'deploy'", true),
        ("payload.labels contains 'other'", false),
        ("payload.commits[0].message contains 'fix'", true),
        ("payload.size contains 3", false),
        ("payload.ref matches 'refs/heads/*'", true),
        ("payload.ref matches 'refs/tags/*'", false),
        ("payload.ref matches '*main'", true),
        ("payload.ref matches 'refs/*/m*n'", true),
    ] {
        assert_eq!(holds(source), expected, "{source}");
    }
}

#[test]
fn logic_and_truthiness() {
    for (source, expected) in [
        ("payload.forced", true),
        ("payload.deleted", false),
        ("not payload.deleted", true),
        ("not not payload.deleted", false),
        ("payload.missing", false),
        ("payload.repository.stars", false),
        ("payload.labels", true),
        ("payload.ref == 'x' or payload.size == 3", true),
        ("payload.ref == 'x' or payload.size == 4", false),
        ("payload.forced and payload.size == 3", true),
        ("payload.forced and payload.deleted", false),
        // `and` binds tighter than `or`.
        (
            "payload.deleted and payload.forced or payload.size == 3",
            true,
        ),
        (
            "payload.deleted and (payload.forced or payload.size == 3)",
            false,
        ),
        ("not (payload.size == 3 and payload.deleted)", true),
        ("(payload.size == 3) == true", true),
        ("true", true),
        ("null", false),
    ] {
        assert_eq!(holds(source), expected, "{source}");
    }
}

#[test]
fn malformed_sources_say_where() {
    for (source, at) in [
        ("", 0),
        ("payload.ref ==", 14),
        ("payload.ref = 'x'", 12),
        ("payload. == 1", 9),
        ("payload.ref == 'unterminated", 15),
        ("(payload.ref == 'x'", 19),
        ("payload.ref == 'x')", 18),
        ("payload.items[-1]", 14),
        ("payload.ref in 'x'", 15),
        ("payload.ref in ['a' 'b']", 20),
        ("and payload.ref", 0),
        ("payload.ref == 'a\\q'", 17),
        ("payload.ref == #", 15),
    ] {
        let error = Expr::parse(source).expect_err(source);
        assert_eq!(error.at, at, "{source}: {error}");
    }
    let deep = format!("{}x{}", "(".repeat(40), ")".repeat(40));
    assert!(Expr::parse(&deep).is_err());
    let nots = format!("{}x", "not ".repeat(40));
    assert!(Expr::parse(&nots).is_err());
    assert!(Expr::parse(&"x or ".repeat(1000)).is_err());
    let long_list = format!(
        "x in [{}]",
        (0..101)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(Expr::parse(&long_list).is_err());
}

#[test]
fn explain_names_each_comparison() {
    let expr = Expr::parse("payload.ref == 'refs/heads/dev' or payload.deleted").expect("parses");
    let (held, trace) = expr.explain(&doc());
    assert!(!held);
    assert_eq!(
        trace,
        [
            "payload.ref (is \"refs/heads/main\") == \"refs/heads/dev\": false",
            "payload.deleted is false: false",
        ]
    );
}

#[test]
fn round_trips_through_its_source() {
    let expr = Expr::parse("payload.size > 2 and event_type == 'push'").expect("parses");
    let stored = serde_json::to_string(&expr).expect("serializes");
    assert_eq!(stored, "\"payload.size > 2 and event_type == 'push'\"");
    let back: Expr = serde_json::from_str(&stored).expect("deserializes");
    assert_eq!(back, expr);
    assert!(serde_json::from_str::<Expr>("\"a ==\"").is_err());
}

#[test]
fn globs() {
    assert!(glob("*", ""));
    assert!(glob("push", "push"));
    assert!(!glob("push", "pushed"));
    assert!(glob("deployment.*", "deployment.succeeded"));
    assert!(!glob("deployment.*", "deploy"));
    assert!(glob("a*b*c", "abc"));
    assert!(glob("a*b*c", "a-b-b-c"));
    assert!(!glob("a*b*c", "ac"));
    assert!(!glob("ab*ba", "aba"));
}
