//! Page sizes and page tokens (opaque to callers, ours to decode), on any
//! value: a page request or INVALID_ARGUMENT.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use patchbay::paging::PageRequest;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    page_size: i32,
    page_token: &'a str,
    parent: &'a str,
    filter: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(page) = PageRequest::parse(
        input.page_size,
        input.page_token,
        &[input.parent, input.filter],
    ) {
        let _ = page.fetch_limit();
        let mut items: Vec<u32> = (0..3).collect();
        let _ = page.finish(&mut items, |i| i.to_string());
    }
});
