//! `metav1.Condition` lists as Kubernetes tools read them: one entry per type, whose
//! `lastTransitionTime` moves only when its status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Sets condition `type_` to `status`, keeping its transition time when the status is unchanged.
pub(crate) fn set(conditions: &mut Vec<Condition>, type_: &str, status: bool, reason: &str, message: impl Into<String>, generation: Option<i64>) {
    let status = if status { "True" } else { "False" }.to_owned();
    // Never empty: an empty string does not survive serialization, and the schema requires it.
    let message = Some(message.into()).filter(|m| !m.is_empty()).unwrap_or_else(|| reason.to_owned());
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Time(Timestamp::now());
                c.status = status;
            }
            c.reason = reason.to_owned();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time: Time(Timestamp::now()),
        }),
    }
}

/// Condition `type_`'s status, if it is set.
pub(crate) fn is_true(conditions: &[Condition], type_: &str) -> Option<bool> {
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.status == "True")
}

/// A message short enough for a condition (the API server caps them at 32 KiB) and a printer column.
pub(crate) fn truncate(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_owned();
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut conditions = Vec::new();
        set(&mut conditions, "Ready", false, "Waiting", "0 of 1", Some(1));
        let first = conditions[0].last_transition_time.clone();
        set(&mut conditions, "Ready", false, "Waiting", "still 0 of 1", Some(2));
        assert_eq!(conditions[0].last_transition_time, first);
        assert_eq!((conditions[0].message.as_str(), conditions[0].observed_generation), ("still 0 of 1", Some(2)));
        std::thread::sleep(std::time::Duration::from_millis(2));
        set(&mut conditions, "Ready", true, "Ready", "1 of 1", Some(2));
        assert_ne!(conditions[0].last_transition_time, first);
        assert_eq!(conditions.len(), 1);
        assert_eq!(is_true(&conditions, "Ready"), Some(true));
        assert_eq!(is_true(&conditions, "Other"), None);
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
