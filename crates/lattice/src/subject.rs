//! Subjects and subscription patterns, with NATS's token rules.

/// A subscription pattern: dot-separated tokens, `*` for any one token, a final `>` for one or
/// more remaining tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<String>,
}

/// A subject or pattern that NATS would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject `{subject}`: {reason}")]
pub struct PatternError {
    subject: String,
    reason: &'static str,
}

impl Pattern {
    /// Parses `pattern`, refusing empty tokens, whitespace, and `>` anywhere but last.
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        let fail = |reason| PatternError { subject: pattern.to_owned(), reason };
        if pattern.is_empty() {
            return Err(fail("it is empty"));
        }
        let tokens: Vec<String> = pattern.split('.').map(str::to_owned).collect();
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                return Err(fail("it has an empty token"));
            }
            if t.chars().any(char::is_whitespace) {
                return Err(fail("it contains whitespace"));
            }
            if t == ">" && i + 1 != tokens.len() {
                return Err(fail("`>` may only be the last token"));
            }
        }
        Ok(Pattern { tokens })
    }

    /// Whether `subject` (a literal subject) matches.
    pub fn matches(&self, subject: &str) -> bool {
        let mut parts = subject.split('.');
        for token in &self.tokens {
            match (token.as_str(), parts.next()) {
                (">", Some(_)) => return true,
                ("*", Some(_)) => {}
                (literal, Some(part)) if literal == part => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_nats() {
        let p = Pattern::parse("wadm.api.*.model.>").unwrap();
        assert!(p.matches("wadm.api.default.model.put"));
        assert!(p.matches("wadm.api.default.model.get.app"));
        assert!(!p.matches("wadm.api.default.model"), "`>` needs at least one token");
        assert!(!p.matches("wadm.api.default.other.put"));
        let exact = Pattern::parse("a.b").unwrap();
        assert!(exact.matches("a.b"));
        assert!(!exact.matches("a.b.c"));
        assert!(!exact.matches("a"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["", "a..b", "a.>.b", "a b"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
