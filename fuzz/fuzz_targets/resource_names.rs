//! Every resource name and id parser, on any string: a value or an error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay::names::{
    ActionName, ConnectionName, DeliveryName, ProjectId, ResourceId, TemplateName, TypeId,
};

fuzz_target!(|text: &str| {
    let _ = ProjectId::parse(text);
    let _ = ProjectId::parse_name(text);
    let _ = ResourceId::parse("connection", text);
    let _ = TypeId::parse(text);
    let _ = TypeId::parse_name(text);
    let _ = TypeId::parse_loose(text);
    let _ = ConnectionName::parse(text);
    let _ = DeliveryName::parse(text);
    let _ = TemplateName::parse(text);
    // What parses prints back to the same name.
    if let Ok(name) = ActionName::parse(text) {
        let _ = format!("{name:?}");
    }
    if let Ok(name) = ConnectionName::parse(text) {
        assert_eq!(ConnectionName::parse(&name.to_string()).ok(), Some(name));
    }
});
