//! The automations' filter language: any source either parses, within its
//! limits, or says where it went wrong; what parses evaluates (and
//! explains) over a document without panicking, and round-trips through
//! its stored form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay::automations::expr::{Expr, glob};
use serde_json::json;

fuzz_target!(|text: &str| {
    let doc = match json!({
        "event_type": "push",
        "payload": {
            "ref": "refs/heads/main",
            "size": 3,
            "ok": true,
            "items": [{"id": "a"}, null, 1.5],
            "nested": {"deeper": {"x": ""}}
        }
    }) {
        serde_json::Value::Object(map) => map,
        _ => return,
    };
    match Expr::parse(text) {
        Ok(expr) => {
            let held = expr.holds(&doc);
            let (explained, _) = expr.explain(&doc);
            assert_eq!(held, explained);
            let stored = serde_json::to_string(&expr).expect("serializes");
            let back: Expr = serde_json::from_str(&stored).expect("what parsed parses again");
            assert_eq!(back, expr);
        }
        Err(e) => assert!(e.at <= text.len().max(patchbay::automations::expr::MAX_LEN)),
    }
    if let Some((pattern, subject)) = text.split_once('\n') {
        let _ = glob(pattern, subject);
    }
});
