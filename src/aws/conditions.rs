//! Wait conditions: pure functions from what a read returned to whether a wait is over, the
//! way kube-rs's `conditions` are. `aws::poll` runs the reads and the backoff; these decide,
//! and the unit tests below pin every state AWS documents.

/// What the latest read says about a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The resource is where the wait wants it.
    Ready,
    /// Still in transition: read again after a pause.
    Wait,
    /// It will not get there; the reason, as AWS gave it or as kstream sees it.
    Failed(String),
}

/// A stream is usable once `ACTIVE`. `CREATING` and `UPDATING` pass; a stream being deleted
/// while kstream waits for it will never be active.
pub fn stream_active(status: &str) -> Condition {
    match status {
        "ACTIVE" => Condition::Ready,
        "DELETING" => Condition::Failed("it is being deleted".into()),
        _ => Condition::Wait,
    }
}

/// A function takes calls and updates once its state is `Active` and no update is in
/// progress. A missing state counts as `Pending` and a missing update status as
/// `Successful`, as for functions created before Lambda reported them.
pub fn function_ready(
    state: Option<&str>,
    last_update: Option<&str>,
    reason: Option<&str>,
) -> Condition {
    let state = state.unwrap_or("Pending");
    let update = last_update.unwrap_or("Successful");
    if state == "Failed" || update == "Failed" {
        return Condition::Failed(reason.unwrap_or("no reason given").to_string());
    }
    if state == "Active" && update != "InProgress" {
        Condition::Ready
    } else {
        Condition::Wait
    }
}

/// A mapping has settled once it is `Enabled` or `Disabled`; `Creating`, `Enabling`,
/// `Disabling` and `Updating` pass.
pub fn mapping_settled(state: Option<&str>, reason: Option<&str>) -> Condition {
    match state {
        Some("Enabled" | "Disabled") => Condition::Ready,
        Some("Failed") => Condition::Failed(reason.unwrap_or("no reason given").to_string()),
        _ => Condition::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_ready_only_when_active() {
        assert_eq!(stream_active("ACTIVE"), Condition::Ready);
        assert_eq!(stream_active("CREATING"), Condition::Wait);
        assert_eq!(stream_active("UPDATING"), Condition::Wait);
        assert_eq!(
            stream_active("DELETING"),
            Condition::Failed("it is being deleted".into())
        );
    }

    #[test]
    fn a_function_is_ready_when_active_and_not_updating() {
        let ready = |s, u| function_ready(s, u, Some("why"));
        assert_eq!(ready(Some("Active"), Some("Successful")), Condition::Ready);
        assert_eq!(ready(Some("Active"), None), Condition::Ready);
        assert_eq!(ready(Some("Active"), Some("InProgress")), Condition::Wait);
        assert_eq!(ready(Some("Pending"), Some("Successful")), Condition::Wait);
        assert_eq!(ready(None, None), Condition::Wait);
        assert_eq!(ready(Some("Inactive"), None), Condition::Wait);
        assert_eq!(ready(Some("Failed"), None), Condition::Failed("why".into()));
        assert_eq!(
            ready(Some("Active"), Some("Failed")),
            Condition::Failed("why".into())
        );
        assert_eq!(
            function_ready(Some("Failed"), None, None),
            Condition::Failed("no reason given".into())
        );
    }

    #[test]
    fn a_mapping_settles_when_enabled_or_disabled() {
        assert_eq!(mapping_settled(Some("Enabled"), None), Condition::Ready);
        assert_eq!(mapping_settled(Some("Disabled"), None), Condition::Ready);
        for state in ["Creating", "Enabling", "Disabling", "Updating", "Deleting"] {
            assert_eq!(
                mapping_settled(Some(state), None),
                Condition::Wait,
                "{state}"
            );
        }
        assert_eq!(mapping_settled(None, None), Condition::Wait);
        assert_eq!(
            mapping_settled(Some("Failed"), Some("no permission")),
            Condition::Failed("no permission".into())
        );
    }
}
