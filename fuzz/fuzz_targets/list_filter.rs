//! The AIP-160 filter subset, on any string and the keys each List allows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay::list_filter::Filter;

fuzz_target!(|text: &str| {
    for allowed in [
        &["type", "state"][..],
        &["connection", "state"],
        &["type", "entity"],
    ] {
        if let Ok(filter) = Filter::parse(text, allowed) {
            for key in allowed {
                let _ = filter.get(key);
            }
        }
    }
});
