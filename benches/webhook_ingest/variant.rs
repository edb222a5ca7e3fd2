//! What the servers side by side differ in: metrics on or off (METRICS),
//! the alert rules in the project their deliveries go to (RULES), or the
//! automations listening to their connection (AUTOMATIONS).

/// One server's setting, and the project its connection lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub metrics: bool,
    /// The project's rules; `None` keeps the defaults a project starts with.
    pub rules: Option<usize>,
    /// Published automations listening to the connection.
    pub automations: Option<usize>,
}

impl Variant {
    pub fn label(self) -> String {
        match (self.automations, self.rules, self.metrics) {
            (Some(n), _, _) => format!("{n} automations"),
            (None, Some(n), _) => format!("{n} rules"),
            (None, None, true) => "metrics on".to_owned(),
            (None, None, false) => "metrics off".to_owned(),
        }
    }
}

fn counts(name: &str) -> Option<Result<Vec<usize>, String>> {
    let list = std::env::var(name).ok()?;
    let counts: Result<Vec<usize>, _> = list.split(',').map(|n| n.trim().parse()).collect();
    Some(match counts {
        Ok(counts) if !counts.is_empty() => Ok(counts),
        _ => Err(format!("{name} lists counts, e.g. 100,0")),
    })
}

/// AUTOMATIONS or RULES (e.g. `100,0`) when set, else METRICS (e.g.
/// `on,off`; default `on`).
pub fn from_env() -> Result<Vec<Variant>, String> {
    if let Some(counts) = counts("AUTOMATIONS") {
        return Ok(counts?
            .into_iter()
            .map(|n| Variant {
                metrics: true,
                rules: None,
                automations: Some(n),
            })
            .collect());
    }
    if let Some(counts) = counts("RULES") {
        return Ok(counts?
            .into_iter()
            .map(|n| Variant {
                metrics: true,
                rules: Some(n),
                automations: None,
            })
            .collect());
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
            automations: None,
        })
        .collect();
    if variants.is_empty() {
        return Err("METRICS lists on, off or both (on,off)".to_owned());
    }
    Ok(variants)
}
