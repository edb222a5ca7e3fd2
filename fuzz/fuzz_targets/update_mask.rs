//! AIP-134 update masks, on any list of paths.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay::field_mask::Selection;
use prost_types::FieldMask;

fuzz_target!(|paths: Vec<String>| {
    let mask = FieldMask { paths };
    let allowed = [
        "display_name",
        "settings",
        "labels",
        "fields",
        "entity_type",
    ];
    if let Ok(selection) = Selection::parse(Some(&mask), &allowed) {
        for path in allowed {
            let _ = selection.wants(path, true);
        }
    }
});
