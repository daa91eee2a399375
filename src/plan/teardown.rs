//! Desired × observed → the steps of `destroy`. Pure: no I/O.

use crate::model::{Desired, Observed, Owner};

use super::DestroyOptions;
use super::steps::{DestroySteps, Fate, QueueTarget, Target};

/// What `destroy` does with each resource: delete what this deployment owns, keep the rest,
/// and keep a bucket with objects unless `--force`.
pub(super) fn destroy(
    desired: &Desired,
    observed: &Observed,
    opts: DestroyOptions,
) -> DestroySteps {
    let not_owned = |owner: &Owner| match owner {
        Owner::This => None,
        Owner::Other(d) => Some(format!("belongs to deployment `{d}`")),
        Owner::Untagged => Some("not created by kstream (no `kstream:deployment` tag)".into()),
        Owner::OtherRegion { region } => Some(format!("is in {region}; destroy it from there")),
    };
    let fate = |owner: Option<&Owner>, detail: Option<String>| match owner {
        None => Fate::Gone,
        Some(owner) => match not_owned(owner) {
            Some(reason) => Fate::Keep { reason },
            None => Fate::Delete { detail },
        },
    };
    let function_owner = observed.function.as_ref().map(|f| &f.owner);
    let mappings = observed
        .mappings
        .iter()
        .map(|m| Target {
            name: m.uuid.clone(),
            fate: match function_owner.and_then(not_owned) {
                Some(reason) => Fate::Keep {
                    reason: format!("its function {reason}"),
                },
                None => Fate::Delete { detail: None },
            },
        })
        .collect();
    let role = observed.role.as_ref();
    let bucket_owner = observed.bucket.as_ref().map(|b| &b.owner);
    let has_objects = observed.bucket_has_objects.unwrap_or(false);
    let bucket_fate = if bucket_owner == Some(&Owner::This) && has_objects && !opts.force {
        Fate::Keep {
            reason: "holds objects; run `kstream destroy --force` to delete them and the bucket"
                .into(),
        }
    } else {
        let detail = (has_objects && opts.force)
            .then(|| "with every object and version in it (--force): they are lost".to_string());
        fate(bucket_owner, detail)
    };
    let queue_owner = observed.queue.as_ref().map(|q| &q.owner);
    let failures = observed.queue.as_ref().map_or(0, |q| q.messages);
    let queue_fate = if queue_owner == Some(&Owner::This) && failures > 0 && !opts.force {
        Fate::Keep {
            reason: format!(
                "holds {failures} failed batch{}; run `kstream redrive`, or `kstream destroy --force` to delete them and the queue",
                if failures == 1 { "" } else { "es" }
            ),
        }
    } else {
        let detail = (failures > 0).then(|| {
            format!(
                "with the {failures} failed batch{} in it (--force): they are lost",
                if failures == 1 { "" } else { "es" }
            )
        });
        fate(queue_owner, detail)
    };
    DestroySteps {
        queue: QueueTarget {
            target: Target {
                name: desired.failure_queue_name(),
                fate: queue_fate,
            },
            url: observed.queue.as_ref().map(|q| q.url.clone()),
        },
        log_group: Target {
            name: desired.log_group(),
            fate: match observed.log_group.as_ref().map(|g| &g.owner) {
                // The group Lambda made for this function goes with it.
                Some(Owner::Untagged) if function_owner == Some(&Owner::This) => {
                    Fate::Delete { detail: None }
                }
                owner => fate(owner, None),
            },
        },
        mappings,
        function: Target {
            name: desired.consumer.function_name.clone(),
            fate: fate(function_owner, None),
        },
        role: Target {
            name: desired.consumer.role_name.clone(),
            fate: fate(
                role.map(|r| &r.owner),
                role.and_then(|r| r.policy.as_ref())
                    .map(|_| "with its inline policies".to_string()),
            ),
        },
        stream: Target {
            name: desired.stream.name.clone(),
            fate: match &observed.stream {
                Some(s) if s.is_deleting() => Fate::BeingDeleted,
                Some(s) => fate(
                    Some(&s.owner),
                    Some(format!(
                        "records the consumer has not written yet are lost; retention is {} h",
                        s.retention_hours
                    )),
                ),
                None => Fate::Gone,
            },
        },
        bucket: Target {
            name: desired.bucket.clone(),
            fate: bucket_fate,
        },
        // Objects may still arrive after the observation: `--force` always empties first.
        empty_bucket_first: opts.force,
    }
}
