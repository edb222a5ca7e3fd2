//! What the servers side by side differ in: metrics on or off (METRICS),
//! or the alert rules in the project their deliveries go to (RULES).

/// One server's setting, and the project its connection lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub metrics: bool,
    /// The project's rules; `None` keeps the defaults a project starts with.
    pub rules: Option<usize>,
}

impl Variant {
    pub fn label(self) -> String {
        match (self.rules, self.metrics) {
            (Some(n), _) => format!("{n} rules"),
            (None, true) => "metrics on".to_owned(),
            (None, false) => "metrics off".to_owned(),
        }
    }
}

/// RULES (e.g. `100,0`) when set, else METRICS (e.g. `on,off`; default `on`).
pub fn from_env() -> Result<Vec<Variant>, String> {
    if let Ok(rules) = std::env::var("RULES") {
        let counts: Result<Vec<usize>, _> = rules.split(',').map(|n| n.trim().parse()).collect();
        return match counts {
            Ok(counts) if !counts.is_empty() => Ok(counts
                .into_iter()
                .map(|n| Variant {
                    metrics: true,
                    rules: Some(n),
                })
                .collect()),
            _ => Err("RULES lists rule counts, e.g. 100,0".to_owned()),
        };
    }
    let variants: Vec<Variant> = std::env::var("METRICS")
        .unwrap_or_else(|_| "on".into())
        .split(',')
        .filter_map(|v| match v.trim() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        })
        .map(|metrics| Variant {
            metrics,
            rules: None,
        })
        .collect();
    if variants.is_empty() {
        return Err("METRICS lists on, off or both (on,off)".to_owned());
    }
    Ok(variants)
}
