//! AIP-134 update masks.

use prost_types::FieldMask;

use crate::error::ApiError;

/// Which fields an update touches: the mask's paths or, without a mask, the
/// fields the request populates (AIP-134).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Option<Vec<String>>);

impl Selection {
    pub fn parse(mask: Option<&FieldMask>, allowed: &[&str]) -> Result<Self, ApiError> {
        paths(mask, allowed).map(Self)
    }

    /// Whether the update sets `path`, which the request `populated` or not.
    pub fn wants(&self, path: &str, populated: bool) -> bool {
        match &self.0 {
            Some(paths) => paths.iter().any(|p| p == path),
            None => populated,
        }
    }
}

/// Copies each listed field of `patch` onto `base` when `selection` wants
/// it; "populated" means differing from the message's default.
macro_rules! copy_selected {
    ($base:expr, $patch:expr, $selection:expr, $default:expr; $($field:ident),* $(,)?) => {{
        let default = $default;
        $(
            if $selection.wants(stringify!($field), $patch.$field != default.$field) {
                $base.$field = $patch.$field.clone();
            }
        )*
    }};
}
pub(crate) use copy_selected;

/// The paths of `mask`, snake_cased (JSON clients send camelCase); `*`
/// means every allowed path. `None` when the mask is absent or empty: the
/// caller then updates the fields the request populates.
fn paths(mask: Option<&FieldMask>, allowed: &[&str]) -> Result<Option<Vec<String>>, ApiError> {
    let Some(mask) = mask.filter(|m| !m.paths.is_empty()) else {
        return Ok(None);
    };
    if mask.paths.iter().any(|p| p == "*") {
        if mask.paths.len() > 1 {
            return Err(ApiError::invalid_field(
                "update_mask",
                "`*` must be the only path",
            ));
        }
        return Ok(Some(allowed.iter().map(|p| (*p).to_owned()).collect()));
    }
    let mut out = Vec::with_capacity(mask.paths.len());
    for path in &mask.paths {
        let snake = to_snake(path);
        if !allowed.contains(&snake.as_str()) {
            return Err(ApiError::invalid_field(
                "update_mask",
                format!(
                    "{path:?} cannot be updated; updatable: {}",
                    allowed.join(", ")
                ),
            ));
        }
        if !out.contains(&snake) {
            out.push(snake);
        }
    }
    Ok(Some(out))
}

fn to_snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let mask = |paths: &[&str]| FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        };
        let allowed = ["display_name", "settings"];
        assert_eq!(paths(None, &allowed).ok(), Some(None));
        assert_eq!(
            paths(Some(&mask(&["displayName"])), &allowed).ok(),
            Some(Some(vec!["display_name".to_owned()]))
        );
        assert_eq!(
            paths(Some(&mask(&["*"])), &allowed)
                .ok()
                .flatten()
                .map(|p| p.len()),
            Some(2)
        );
        assert!(paths(Some(&mask(&["etag"])), &allowed).is_err());
    }
}
