//! The TransformRecord engine: any field mappings (in their stored JSON
//! form) over any record: mapped fields and field errors, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay::registry::{model::FieldMapping, transform::transform};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Input {
    fields: Vec<FieldMapping>,
    record: Map<String, Value>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    let _ = transform(&input.fields, &input.record);
});
