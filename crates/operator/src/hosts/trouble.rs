//! Why host pods are not ready, in words for the WasmCloudHostConfig's `Ready` condition: the
//! host container's waiting reason (`CrashLoopBackOff`, `ErrImageNeverPull`, ...) and what the
//! host said as it last exited (its error, through `FallbackToLogsOnError`), so `kubectl get whc`
//! shows "connecting to NATS at nats://...: connection refused" instead of only a count.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::HOST_CONTAINER;

/// The first host pod's trouble that says the most, if any pod says anything.
pub(super) fn pods_trouble(pods: &[Pod]) -> Option<String> {
    pods.iter().filter_map(pod_trouble).max_by_key(|(weight, _)| *weight).map(|(_, text)| text)
}

/// How much a pod's trouble tells (an exit message beats a bare reason), and its words.
fn pod_trouble(pod: &Pod) -> Option<(u8, String)> {
    let name = pod.metadata.name.as_deref().unwrap_or("a host pod");
    let status = pod.status.as_ref()?;
    let host = status.container_statuses.iter().flatten().find(|c| c.name == HOST_CONTAINER);
    let Some(host) = host else {
        // Not started: unschedulable, or still being set up.
        let unscheduled = status.conditions.iter().flatten().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
        let why = unscheduled.message.as_deref().or(unscheduled.reason.as_deref()).unwrap_or("not scheduled");
        return Some((1, format!("{name}: {why}")));
    };
    if host.ready {
        return None;
    }
    let waiting = host.state.as_ref().and_then(|s| s.waiting.as_ref());
    let reason = waiting.and_then(|w| w.reason.as_deref());
    match (reason, last_words(host)) {
        (_, Some(words)) => Some((3, format!("{name}: {}: {words}", reason.unwrap_or("exited")))),
        (Some("ContainerCreating" | "PodInitializing"), None) => None,
        (Some(reason), None) => {
            let detail = waiting.and_then(|w| w.message.as_deref()).map(|m| format!(": {m}")).unwrap_or_default();
            Some((2, format!("{name}: {reason}{detail}")))
        }
        (None, None) => None,
    }
}

/// The last error line the host printed as it exited (the termination message is the tail of
/// its log): the `error: ...` line if there is one, else the last non-empty line.
fn last_words(host: &ContainerStatus) -> Option<String> {
    let terminated = host.last_state.as_ref().and_then(|s| s.terminated.as_ref()).filter(|t| t.exit_code != 0)?;
    let message = terminated.message.as_deref().unwrap_or_default();
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let line = lines.iter().rev().find(|l| l.starts_with("error:")).or(lines.last())?;
    Some(crate::conditions::truncate(line.trim_start_matches("error:").trim(), 400))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "wasmcloud-host-7d9"}, "status": status})).unwrap()
    }

    #[test]
    fn a_crashing_host_is_told_by_its_last_error() {
        let crashing = pod(json!({"containerStatuses": [{
            "name": "wasmcloud-host", "ready": false, "restartCount": 3, "image": "trellis", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "message": "WARN retrying\nerror: connecting to NATS at nats://10.0.0.9:4222: connection refused\n"}}
        }]}));
        let creating = pod(json!({"containerStatuses": [{"name": "wasmcloud-host", "ready": false, "restartCount": 0, "image": "trellis", "imageID": "",
            "state": {"waiting": {"reason": "ContainerCreating"}}}]}));
        assert_eq!(pods_trouble(&[creating, crashing]).as_deref(), Some("wasmcloud-host-7d9: CrashLoopBackOff: connecting to NATS at nats://10.0.0.9:4222: connection refused"));
    }

    #[test]
    fn an_image_that_cannot_be_had_is_named() {
        let pulling = pod(json!({"containerStatuses": [{"name": "wasmcloud-host", "ready": false, "restartCount": 0, "image": "trellis:9", "imageID": "",
            "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "Container image \"trellis:9\" is not present with pull policy of Never"}}}]}));
        assert_eq!(pods_trouble(&[pulling]).as_deref(), Some("wasmcloud-host-7d9: ErrImageNeverPull: Container image \"trellis:9\" is not present with pull policy of Never"));
    }

    #[test]
    fn ready_starting_and_unscheduled_pods() {
        let ready = pod(json!({"containerStatuses": [{"name": "wasmcloud-host", "ready": true, "restartCount": 0, "image": "trellis", "imageID": "", "state": {"running": {}}}]}));
        assert_eq!(pods_trouble(&[ready]), None);
        let unscheduled = pod(json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]}));
        assert_eq!(pods_trouble(&[unscheduled]).as_deref(), Some("wasmcloud-host-7d9: 0/1 nodes are available: 1 Insufficient cpu."));
        assert_eq!(pods_trouble(&[]), None);
    }
}
