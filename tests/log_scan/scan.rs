//! Looking for secrets in log lines: each secret in its raw form and in the
//! form a JSON log line escapes it to, all found in one pass per line.

use aho_corasick::AhoCorasick;

/// A secret shorter than this is not looked for: such a value matches
/// ordinary text.
pub const MIN_LEN: usize = 8;

pub struct Scanner {
    secrets: Vec<String>,
    /// The secret each pattern stands for.
    owner: Vec<usize>,
    matcher: AhoCorasick,
    pub too_short: usize,
}

/// A line that holds a secret.
pub struct Leak {
    pub line: usize,
    pub secret: String,
}

impl Scanner {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut unique: Vec<String> = secrets.into_iter().collect();
        unique.sort();
        unique.dedup();
        let (secrets, short): (Vec<String>, Vec<String>) = unique
            .into_iter()
            .partition(|s| s.chars().count() >= MIN_LEN);
        let (mut patterns, mut owner) = (Vec::new(), Vec::new());
        for (index, secret) in secrets.iter().enumerate() {
            patterns.push(secret.clone());
            owner.push(index);
            let quoted = serde_json::to_string(secret).unwrap_or_default();
            let escaped = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or(secret);
            if escaped != secret {
                patterns.push(escaped.to_owned());
                owner.push(index);
            }
        }
        let matcher = AhoCorasick::new(&patterns).expect("build the matcher");
        Self {
            secrets,
            owner,
            matcher,
            too_short: short.len(),
        }
    }

    pub fn secrets(&self) -> usize {
        self.secrets.len()
    }

    /// The lines of `log` that hold a secret, numbered from 1.
    pub fn leaks(&self, log: &str) -> Vec<Leak> {
        log.lines()
            .enumerate()
            .filter_map(|(number, line)| {
                let hit = self.matcher.find(line)?;
                Some(Leak {
                    line: number + 1,
                    secret: self.secrets[self.owner[hit.pattern().as_usize()]].clone(),
                })
            })
            .collect()
    }
}

/// Enough of a secret to find it in the tests, not the whole of it.
pub fn masked(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}… ({} chars)", secret.chars().count())
}
